"""The flight side's TCP server for the ground link: it never blocks the flight loop,
resynchronises over garbage (counted), drops a ground that does not read (counted),
refuses grounds beyond its limit, and carries real telecommands to the dispatcher."""

from __future__ import annotations

import socket
import time

import pytest

from firmware_bridge import ground_port as gp
from firmware_bridge.ground_port import GroundPort, serve_ground
from firmware_bridge.pus import PacketStream
from firmware_bridge.sdls import Signer, new_association, write_key_file
from firmware_bridge.tmtc import FlightEndpoint, parse_report, telecommand
from flightsw.tmtc import Verification
from tests.conftest import fly, make_loop


@pytest.fixture
def loop(nominal):
    fsw, world = make_loop(nominal)
    return fsw, world


def _step(port, fsw, world, t, seconds=0.2):
    """Fly and step the port each cycle, as a flight node does."""
    def each(_k):
        port.step()
    return fly(fsw, world, seconds, t, each=each)


def test_a_secured_command_over_tcp_is_carried_out_and_verified(loop, tmp_path):
    fsw, world = loop
    sa = new_association(1)
    key = write_key_file(tmp_path / "k", sa)
    port = serve_ground(fsw.commanding, key)
    try:
        c = socket.create_connection(("127.0.0.1", port.port))
        t = _step(port, fsw, world, 0)
        # one packet split across two writes, with garbage before it
        raw = Signer(sa).secure(telecommand("function", "HOLD", seq=3, source=2))
        c.sendall(b"\xff\x00garbage" + raw[:7])
        t = _step(port, fsw, world, t, 0.1)
        c.sendall(raw[7:])
        t = _step(port, fsw, world, t, 0.4)
        assert fsw.sequencer.state == "hold"
        assert port.stats.tc_packets == 1 and port.stats.skipped_bytes == 9
        c.settimeout(2.0)
        stream, got = PacketStream(tc=False), []
        deadline = time.monotonic() + 5
        while not any(isinstance(r, Verification) and r.stage == "completed" for r in got):
            assert time.monotonic() < deadline
            got += [parse_report(p) for p in stream.feed(c.recv(65536))]
        assert [r.stage for r in got if isinstance(r, Verification)] == \
            ["accepted", "started", "completed"]
        assert port.summary()["tcp"]["accepted"] == 1
        c.close()
    finally:
        port.close()


def test_a_ground_that_does_not_read_is_dropped_and_the_loop_never_waits(loop, monkeypatch):
    fsw, world = loop
    monkeypatch.setattr(gp, "MAX_BACKLOG", 64 * 1024)
    port = GroundPort(FlightEndpoint(fsw.commanding))
    try:
        lazy = socket.socket()
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.connect(("127.0.0.1", port.port))
        fsw.commanding.intervals_ns = dict.fromkeys(fsw.commanding.intervals_ns,
                                                    fsw.commanding.period_ns)
        t0 = time.monotonic()
        t = 0
        while port.stats.dropped == 0 and time.monotonic() - t0 < 60:
            t = _step(port, fsw, world, t, 1.0)
        assert port.stats.dropped == 1 and port.clients == 0
        lazy.close()
    finally:
        port.close()


def test_grounds_beyond_the_limit_are_refused_and_a_closed_one_is_forgotten(loop):
    fsw, world = loop
    port = GroundPort(FlightEndpoint(fsw.commanding))
    try:
        socks = []
        for _ in range(gp.MAX_CLIENTS + 2):
            socks.append(socket.create_connection(("127.0.0.1", port.port), timeout=5))
            port.step()
        t = _step(port, fsw, world, 0)
        assert port.clients == gp.MAX_CLIENTS and port.stats.refused == 2
        socks[0].close()
        _step(port, fsw, world, t)
        assert port.clients == gp.MAX_CLIENTS - 1
        for s in socks[1:]:
            s.close()
    finally:
        port.close()


def test_a_port_in_use_is_a_clear_error(loop):
    fsw, _ = loop
    a = GroundPort(FlightEndpoint(fsw.commanding))
    try:
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            GroundPort(FlightEndpoint(fsw.commanding), port=a.port)
    finally:
        a.close()
