"""A stand-in DHIS2 for tests: a real HTTP server on loopback that checks Basic authentication and
the shape of a data value set, and answers with an import summary and its ``importCount``."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USER, PASSWORD = "kmc-reporter", "s3cret-Pass"
_UID = re.compile(r"^[A-Za-z0-9]{11}$")


class StandIn:
    """What the stand-in received, and the data values it holds (to tell imported from updated)."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str, str, str], str] = {}
        self.requests: list[dict[str, Any]] = []


def _check_set(doc: Any) -> list[str]:
    """The conflicts a DHIS2 server would report for this document's shape (empty: valid)."""
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get("dataValues"), list):
        return ["not a data value set: no dataValues list"]
    for i, v in enumerate(doc["dataValues"]):
        if not isinstance(v, dict):
            problems.append(f"dataValues[{i}] is not an object")
            continue
        for key in ("dataElement", "period", "orgUnit"):
            if not isinstance(v.get(key, doc.get(key)), str):
                problems.append(f"dataValues[{i}] has no {key}")
        if not _UID.match(str(v.get("dataElement", ""))):
            problems.append(f"dataValues[{i}]: dataElement is not a UID")
        if "categoryOptionCombo" in v and not _UID.match(str(v["categoryOptionCombo"])):
            problems.append(f"dataValues[{i}]: categoryOptionCombo is not a UID")
        if not re.fullmatch(r"\d{6}", str(v.get("period", ""))):
            problems.append(f"dataValues[{i}]: period is not yyyyMM")
        if not isinstance(v.get("value"), str):
            problems.append(f"dataValues[{i}]: value is not a string")
    return problems


@contextmanager
def serve_dhis2() -> Iterator[tuple[str, StandIn]]:
    """A stand-in DHIS2 on a free loopback port: ``(base_url, state)``."""
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"httpStatus": "Unauthorized", "httpStatusCode": 401})
                return
            if self.path != "/api/dataValueSets" or self.headers.get("Content-Type") != "application/json":
                self._answer(404, {"httpStatusCode": 404})
                return
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(doc)
            problems = _check_set(doc)
            if problems:
                self._answer(409, {"httpStatusCode": 409, "status": "ERROR", "message": "; ".join(problems)})
                return
            imported = updated = 0
            for v in doc["dataValues"]:
                key = (v["dataElement"], v["period"], v["orgUnit"], v.get("categoryOptionCombo", "default"))
                if key in state.stored:
                    updated += 1
                else:
                    imported += 1
                state.stored[key] = v["value"]
            summary = {
                "responseType": "ImportSummary",
                "status": "SUCCESS",
                "importCount": {"imported": imported, "updated": updated, "ignored": 0, "deleted": 0},
                "conflicts": [],
            }
            self._answer(
                200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "response": summary}
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
