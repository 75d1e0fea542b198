"""A fake OSV (osv.dev) on loopback, for the local stack and tests.

It behaves like the real API (see feedguard.osv): no authentication;
POST /v1/querybatch takes at most 1000 queries and answers a result per
query, in order, with only `id` and `modified` per vuln, `{}` for none;
a query's vulns come `page_size` at a time (2 here, so the demo's lodash
pages), with a `next_page_token` until the last page; GET /v1/vulns/{id}
answers a record, 404 `{"code": 5, ...}` for an unknown id; errors are
`{"code", "message"}` with 400 for a bad query (a query naming both a purl
with a version and `version`, a bad page token, too many queries). The
faults, latency and counters are the fake OSS Index's (infra.fake_ossindex:
`Fault`, the control paths, the in-process adapter), so tests and the
control server drive both alike; the counters add `batch_requests`,
`record_requests`, `queries_asked` and `pages` (follow-up queries).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from infra.fake_ossindex import FakeOssIndex, Reset, _error, serve
from infra.osv_data import AFFECTS, RECORDS, made_up_ids, made_up_record

MAX_QUERIES = 1000


@dataclass
class FakeOsv(FakeOssIndex):
    page_size: int = 2
    batch_requests: int = 0
    record_requests: int = 0
    queries_asked: int = 0
    pages: int = 0

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.batch_requests = self.record_requests = self.queries_asked = self.pages = 0

    def stats(self) -> dict[str, Any]:
        answer = super().stats()
        with self._lock:
            answer.update(
                batch_requests=self.batch_requests,
                record_requests=self.record_requests,
                queries_asked=self.queries_asked,
                pages=self.pages,
                page_size=self.page_size,
            )
        return answer

    def listed(self, purl: str) -> tuple[str, ...]:
        known = AFFECTS.get(purl)
        if known is not None:
            return known
        if self.vulnerable_share > 0:
            import hashlib

            draw = int.from_bytes(hashlib.sha256(purl.encode()).digest()[:8], "big") / 2**64
            if draw < self.vulnerable_share:
                return made_up_ids(purl)
        return ()

    def _answer(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        fault = self._next_fault()
        delay = (fault.latency_ms if fault and fault.latency_ms else self.latency_ms) / 1000
        if delay:
            threading.Event().wait(delay)  # not time.sleep: tests that skip the client's backoff patch that one
        path = path.split("?", 1)[0]
        if fault and fault.reset:
            raise Reset
        if fault and fault.status != 200:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            payload = (fault.body if fault.body is not None else json.dumps({"code": 14, "message": "fault"})).encode()
            return fault.status, {"Content-Type": "application/json", **headers}, payload
        if method == "POST" and path == "/v1/querybatch":
            with self._lock:
                self.batch_requests += 1
            status, answer = self._batch(body)
        elif method == "GET" and path.startswith("/v1/vulns/"):
            with self._lock:
                self.record_requests += 1
            status, answer = self._record(unquote(path.removeprefix("/v1/vulns/")))
        else:
            return _error(404, "Not Found")
        payload = (fault.body if fault and fault.body is not None else json.dumps(answer)).encode()
        return status, {"Content-Type": "application/json"}, payload

    def _batch(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            queries = json.loads(body)["queries"]
            if not isinstance(queries, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return 400, {"code": 3, "message": "Invalid request"}
        if len(queries) > MAX_QUERIES:
            return 400, {"code": 3, "message": "too many queries"}
        results = []
        for index, query in enumerate(queries):
            try:
                purl = query["package"]["purl"]
                start = int(query.get("page_token") or 0)
            except (KeyError, TypeError, ValueError):
                return 400, {"code": 3, "message": f"error in query at index {index}: invalid query"}
            if "version" in query and "@" in purl:
                return 400, {"code": 3, "message": "version specified in params and PURL query"}
            if "@" not in purl.rsplit("/", 1)[-1]:
                ids: tuple[str, ...] = ()  # the real one lists every version's records; feedguard never asks
            else:
                ids = self.listed(purl.split("?", 1)[0].split("#", 1)[0])
            page = ids[start : start + self.page_size]
            result: dict[str, Any] = {}
            if page:
                result["vulns"] = [{"id": vid, "modified": "2026-08-01T00:00:00Z"} for vid in page]
            if start + self.page_size < len(ids):
                result["next_page_token"] = str(start + self.page_size)
            results.append(result)
            with self._lock:
                self.queries_asked += 1
                self.pages += bool(start)
        return 200, {"results": results}

    def _record(self, vulnerability_id: str) -> tuple[int, dict[str, Any]]:
        record = RECORDS.get(vulnerability_id) or made_up_record(vulnerability_id)
        if record is None:
            return 404, {"code": 5, "message": "Vulnerability not found"}
        return 200, record


def main() -> None:
    """python -m infra.fake_osv HOST PORT: serves until terminated, or
    until the process that started it dies."""
    from infra.sandbox import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    server = serve(FakeOsv(), sys.argv[1], int(sys.argv[2]))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
