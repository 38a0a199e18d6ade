"""Home care after discharge: what a home gateway and the health station say to each other.

``wire`` is the contract (pure pydantic models, no I/O); the home gateway (``kmc-monitor home``)
writes it and the station's receiving route reads it. See ``docs/home-sync.md``.
"""
