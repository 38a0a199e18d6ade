"""Readings without wraps: :mod:`.simulator` (a simulated ward of wraps that advertise and
measure like the firmware) and :mod:`.synthetic` (scripted traces with their ground truth, for
tests, scenarios and benchmarks)."""
