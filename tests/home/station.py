"""A minimal health station for the home gateway's tests: the sync contract, served by real uvicorn.

It implements ``POST /api/station/homes/{home_id}/sync`` as docs/home-sync.md says (bearer token,
a ``SyncBatch`` validated, items stored once by ``(home_id, seq)``, sealed packets re-verified with
the wrap's key, ``accepted_through`` the highest sequence without a gap) and records everything a
test needs to judge the home: every delivery of every sequence number, a sequence reused for other
content, a batch not in order. Used until the real station route (helper 17b) is merged.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Header, HTTPException

from kmc_monitor.devices.errors import DecodeError
from kmc_monitor.devices.protocol.bthome import decode_service_data
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.station.wire import SYNC_PATH, HomeBaby, PairingCode, SyncAck, SyncBatch, WrapGrant

__all__ = ["StandInStation", "pairing_for"]


def pairing_for(
    sim: WardSimulator, station_url: str, *, home_id: str = "H001", goal_h: float = 8.0, tz: str = "UTC"
) -> PairingCode:
    """A pairing code for a simulated ward's wraps (as the station prints at discharge)."""
    grants = tuple(
        WrapGrant(wrap_id=e.wrap_id, mac=e.mac, key=None if e.key is None else e.key.hex())
        for e in sim.identities()
    )
    baby = HomeBaby(
        display_name="H'Me", daily_goal_s=goal_h * 3600, language="vi", tz=tz, discharged_t=sim.start_s
    )
    return PairingCode(
        station_url=station_url, home_id=home_id, token=secrets.token_urlsafe(24), wraps=grants, baby=baby
    )


@dataclass
class Received:
    """Everything the stand-in station heard from one home."""

    items: dict[int, str] = field(default_factory=dict)  # seq -> the item's JSON
    deliveries: dict[int, int] = field(default_factory=dict)  # seq -> times it arrived
    conflicts: list[int] = field(default_factory=list)  # a seq that came back with other content
    out_of_order: list[int] = field(default_factory=list)  # a batch not ascending
    bad_seals: int = 0
    batches: int = 0
    max_batch: int = 0

    def accepted_through(self) -> int:
        n = 0
        while n + 1 in self.items:
            n += 1
        return n


class StandInStation:
    """The stand-in, on 127.0.0.1; ``down()`` stops listening (the home's network is gone), ``up()``."""

    def __init__(self) -> None:
        self.code: PairingCode | None = None
        self.received = Received()
        self.lock = threading.Lock()
        self.app = self._app()
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post(SYNC_PATH, response_model=SyncAck)
        def sync(home_id: str, batch: SyncBatch, authorization: str = Header(default="")) -> SyncAck:
            code = self.code
            if code is None or home_id != code.home_id or authorization != f"Bearer {code.token}":
                raise HTTPException(401, "unknown home or token")
            keys = {w.wrap_id: (w.mac, bytes.fromhex(w.key or "")) for w in code.wraps}
            with self.lock:
                r = self.received
                r.batches += 1
                r.max_batch = max(r.max_batch, len(batch.readings) + len(batch.days))
                seqs = sorted([x.seq for x in batch.readings] + [x.seq for x in batch.days])
                items = {x.seq: x.model_dump_json() for x in (*batch.readings, *batch.days)}
                if seqs and seqs[0] > r.accepted_through() + 1:
                    r.out_of_order.append(seqs[0])
                refused = 0
                for x in batch.readings:
                    mac, key = keys[x.wrap_id]
                    try:
                        decode_service_data(bytes.fromhex(x.sealed), mac=mac, key=key)
                    except DecodeError:
                        r.bad_seals += 1
                        refused += 1
                for seq in seqs:
                    r.deliveries[seq] = r.deliveries.get(seq, 0) + 1
                    if seq in r.items and r.items[seq] != items[seq]:
                        r.conflicts.append(seq)
                    r.items.setdefault(seq, items[seq])
                return SyncAck(accepted_through=r.accepted_through(), refused=refused)

        return app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the stand-in station did not start")
            time.sleep(0.02)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread

    def down(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = self._thread = None
