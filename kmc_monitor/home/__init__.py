"""The home gateway (``kmc-monitor home``): one wrap (or twins) in the family's home after discharge.

A cheap Linux board hears the wrap through the same
:class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier` as the ward, applies the same rules
(:class:`~kmc_monitor.signal.stream.WrapStream`), shows the
family view on the home network, sounds a cold alarm, and forwards sealed readings and daily
summaries to the health station whenever a network appears (store-and-forward, the contract in
:mod:`kmc_monitor.station.wire`). Everything lives in one SQLite file on the board's own disk.

Modules: ``store`` (the SQLite file: readings, replay counters, outbox), ``gateway`` (rules,
alarms and what to forward; no clock reads), ``forwarder`` (the outbox to the station over HTTP),
``sources`` (simulated wraps, or the Bluetooth front end), ``web`` (the family page), ``cli``.
"""
