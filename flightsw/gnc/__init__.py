"""Guidance, navigation and control: each a Cython kernel (``_*.pyx``), its readable numpy
twin (``*_ref.py``) and a public component wrapper (``*.py``) that owns validation and docs.
"""
