"""Hostile HTTP input: every route of the OpenAPI spec fuzzed with schemathesis.

The app runs on a real uvicorn on 127.0.0.1 (a demo ward of two wraps, 20 minutes in, so alarms,
sessions and admissions exist), and every generated request — valid and invalid bodies, paths,
queries — goes with the staff token. What must hold for each: no 5xx, and no stack trace or Python
source path in the response (a response may reach a proxy's log or a browser's screen). Bounded:
one example per operation and mode in make test, 40 in make test-long; no example database and no
shrinking (a failure is reported as it was found; the regression tests below pin what was found).
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.reliability.helpers import TOKEN, ThreadServer, thread_server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow(25)]

#: What a leaked stack trace looks like in a response body.
LEAK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\"|/kmc_monitor/[\w/]+\.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    with thread_server(tmp_path_factory.mktemp("fuzz") / "data") as (srv, _clock):
        yield srv


@pytest.fixture(scope="module")
def api_schema(server: ThreadServer) -> Any:
    return schemathesis.openapi.from_url(
        f"{server.base}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )


#: Examples per operation and generation mode (valid input, then invalid input): one in the fast
#: tier (every operation still gets valid and invalid input), many in the long tier.
FAST_EXAMPLES = 1
LONG_EXAMPLES = 40


def _fuzz(server: ThreadServer, op: Any, mode: GenerationMode, max_examples: int) -> list[str]:
    """Run one operation's examples; the failures found, in words (empty: none)."""
    found: list[str] = []

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=server.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)
        body = response.text
        where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r:.200}"
        if response.status_code >= 500:
            found.append(f"{response.status_code} for {where}: {body[:300]}")
        if LEAK.search(body):
            found.append(f"stack trace in the response to {where}: {body[:300]}")

    try:
        run()
    except Unsatisfiable:
        # No invalid input exists for an operation without parameters or body: nothing to send.
        assert mode is GenerationMode.NEGATIVE, op.label
    return found


@pytest.mark.parametrize("max_examples", [FAST_EXAMPLES, pytest.param(LONG_EXAMPLES, marks=pytest.mark.long)])
def test_no_route_answers_5xx_or_leaks_a_stack_trace(
    server: ThreadServer, api_schema: Any, max_examples: int
) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        op = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(server, op, mode, max_examples)
    assert operations >= 20, f"only {operations} operations in the spec"
    assert not failures, "\n".join(sorted(set(failures))[:30])


def test_the_server_survived_the_fuzzing(server: ThreadServer) -> None:
    """After everything above, the ward still answers and still ticks."""
    req = urllib.request.Request(f"{server.base}/api/beds", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    server.call(server.runtime.step)


def test_leak_pattern_catches_a_trace() -> None:
    """The check above can fail: it recognises a real traceback's text."""
    sample = 'Traceback (most recent call last):\n  File "/x/kmc_monitor/service/app.py", line 3'
    assert LEAK.search(sample)
    assert not LEAK.search('{"detail": "no bed \'B99\' on this ward"}')


# Regressions of what the fuzzing found ----------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/admissions/{}"),
        ("POST", "/api/admissions/{}/discharge"),
        ("POST", "/api/admissions/{}/family-link"),
        ("POST", "/api/admissions/{}/family-link/revoke"),
        ("GET", "/api/admissions/{}/family-qr.svg"),
        ("GET", "/api/alarms/{}/audit"),
        ("POST", "/api/alarms/{}/ack"),
    ],
)
def test_an_id_beyond_64_bits_is_a_422_not_a_500(server: ThreadServer, method: str, path: str) -> None:
    """Found by schemathesis: an id SQLite cannot hold overflowed in the store (500)."""
    for big in (2**63, 2**70, -(2**63) - 1):
        status, body = _request(server, method, path.format(big))
        assert status == 422, (path, big, status, body)
    status, _ = _request(server, method, path.format(2**63 - 1))
    assert status == 404  # the largest id that fits is an ordinary unknown one


def test_a_locked_database_is_a_503_that_says_why(server: ThreadServer) -> None:
    """A staff write the database refuses (another program holds it past the busy timeout) is a
    503 with the cause and what to do, never a bare 500."""
    holder = sqlite3.connect(server.runtime.store.path, timeout=5, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        status, body = _request(server, "POST", "/api/beds", {"bed_id": "B77"})
    finally:
        holder.rollback()
        holder.close()
    assert status == 503, body
    assert body["reason"] == "locked" and "another program" in body["detail"]
    assert not LEAK.search(json.dumps(body))
    assert _request(server, "POST", "/api/beds", {"bed_id": "B77"})[0] == 201  # nothing half-done


def _request(server: ThreadServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{server.base}{path}", method=method, data=data)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw[:1] in (b"{", b"[") else raw
