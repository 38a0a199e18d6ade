"""From the bed to the programme: caregivers, KMC dose, quality indicators, national reporting and
the sensor-versus-observation validation study.

This layer reads what the ward service stored (admissions, sessions, alarms, who held the baby) and
turns it into what programme managers report; it never changes the live path. It sits beside the
web layer: ``service/programme_routes.py`` serves it, ``kmc-monitor indicators`` and
``kmc-monitor validate`` run it from the command line.
"""
