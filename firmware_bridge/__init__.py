"""Buses, codecs and device drivers between avionics and the flight software.

CAN (python-can, DBC layouts through cantools) and serial (pyserial, framed with CRC)
device drivers arrive with the bus issue; until then the SIL bench connects sensor models
directly to the flight software's input messages. This package may import only
``flightsw.messages`` from the flight software.
"""
