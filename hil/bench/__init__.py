"""The hardware-in-the-loop bench: bench files (:mod:`.benchfile`: each unit real or
emulated, and where), the virtual CAN bus (:mod:`.canbus`), baud-rate-paced serial lines
(:mod:`.serial_line`), the emulated units (:mod:`.emulators`) and their processes with the
lockstep protocol (:mod:`.nodes`, :mod:`.shm`), and the bench runner (:mod:`.runner`)."""
