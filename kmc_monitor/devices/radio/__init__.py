"""What does radio I/O: the bleak front ends and what watches them.

:mod:`.gateway` (the ward's Bluetooth gateway: scanner, connected wraps, watchdog), :mod:`.backends`
(a simulated radio behind bleak's own backend interface, for tests and ``--simulate``) and
:mod:`.tracker` (each wrap's link state, the scan watchdog). Each module is imported where it is
used: bleak and its platform backend load only when a radio is chosen.
"""
