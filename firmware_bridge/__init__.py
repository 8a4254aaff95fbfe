"""Buses, codecs and device drivers between avionics and the flight software.

Interface control (the contracts with the units):

- :mod:`firmware_bridge.can_icd`: the CAN frames, from ``icd/flightsw.dbc`` through
  cantools (IMU, RCS thruster driver, docking mechanism, SYNC, heartbeats);
- :mod:`firmware_bridge.framing` and :mod:`firmware_bridge.serial_icd`: CRC-16 framed
  serial messages of the star tracker and the docking lidar, and a resynchronising decoder.

Device drivers over python-can and pyserial build on these. In SIL the bench connects
sensor models directly to the flight software's input messages. This package may import
only ``flightsw.messages`` from the flight software; hardware libraries are imported where
they are used.
"""
