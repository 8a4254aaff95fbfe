"""Docking sequence: the approach and docking state machine."""
