"""Type stubs for the PUS-C telemetry packet kernel (see firmware_bridge.pus.TmEncoder,
its twin)."""

def crc16(data: bytes) -> int: ...

class TmPacker:
    apid: int
    def __init__(self, apid: int, epoch_unix_s: int, max_packet_bytes: int) -> None: ...
    def encode(self, service: int, subtype: int, source_data: bytes, *, t_ns: int, seq: int,
               counter: int, destination: int = 0) -> bytes: ...
