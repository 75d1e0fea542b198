"""The OSV (osv.dev) client: which vulnerabilities affect each purl, and
their records. No DynamoDB here: feedguard.lookups caches what it answers.

- POST {url}/v1/querybatch {"queries": [{"package": {"purl": ...}}, ...]}:
  at most 1000 queries a request (OSV's `maxBatchQueries`; more is a 400),
  one per distinct purl. A purl without a version is never sent: OSV would
  answer every record of the package, at any version. Each result lists
  only ids; a result that carries `next_page_token` is asked again, alone
  with its siblings that also carry one, with `page_token` set, until none
  does (a page may hold a token and no vulns).
- GET {url}/v1/vulns/{id}: one record, asked once per id a scan needs (the
  caller caches them by id).
- No authentication and no credits. The same fault rules as the OSS Index
  client (feedguard.ossindex), whose transport and error classes this one
  shares, so the scanner, the gate and source health treat both alike:
  429, 500, 502, 503, 504 and connection errors or timeouts are retried with
  exponential backoff and full jitter, honouring Retry-After, bounded in
  attempts and in total time; any other 4xx fails the request, naming its
  status; a redirect is never followed; a body that is not the expected JSON
  is an error, never an empty answer. Error messages are the client's own
  sentences: nothing OSV answered is in them (`detail` keeps an excerpt).

Converting a record (`vulnerability`, `fixed_versions`, `report`):
the base score is the highest of its CVSS vectors' (CVSS_V2, CVSS_V3 with a
`CVSS:3.0/` or `CVSS:3.1/` prefix, CVSS_V4), computed by the `cvss`
package, and that vector is kept; a vector it cannot read is logged and
ignored. A `withdrawn` record affects nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from aws_lambda_powertools import Logger
from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError
from packageurl import PackageURL

from feedguard.domain import Report, Vulnerability
from feedguard.ossindex import (
    REQUEST_TIMEOUT,
    USER_AGENT,
    MalformedAnswer,
    RetryingClient,
    _guard,
)
from feedguard.ossindex import Usage as RequestCounts

logger = Logger(child=True)

DEFAULT_URL = "https://api.osv.dev"
QUERYBATCH_PATH = "/v1/querybatch"
VULNS_PATH = "/v1/vulns/"
MAX_QUERIES = 1000
# A query whose pages never end is an error, not a loop: OSV pages after
# 1000 vulns a query, so this is far beyond any package's records.
MAX_PAGES = 50
RETRYABLE = frozenset({429, 500, 502, 503, 504})
# What a credential test asks: one query, answered without a token.
PROBE_PURL = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
# Where a record can be read by people.
RECORD_PAGE = "https://osv.dev/vulnerability/"

# purl type -> OSV ecosystem (osv.dev go/purl): the ecosystems fixed versions are matched in.
ECOSYSTEMS = {
    "cargo": "crates.io",
    "composer": "Packagist",
    "gem": "RubyGems",
    "golang": "Go",
    "gradle": "Maven",
    "hex": "Hex",
    "maven": "Maven",
    "npm": "npm",
    "nuget": "NuGet",
    "pub": "Pub",
    "pypi": "PyPI",
    "swift": "SwiftURL",
}


@dataclass
class Usage(RequestCounts):
    """What the calls cost, for the scan's counters: every request sent
    (retries included), and of those the querybatch pages and record GETs."""

    batches: int = 0
    records: int = 0


class Client(RetryingClient):
    source_name = "OSV"
    retryable = RETRYABLE  # a 500 too: the reference client retries every 5xx
    usage: Usage

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        timeout: float | None = None,
        max_attempts: int = 5,
        max_total_seconds: float = 60.0,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] | None = None,
        allow_private: bool | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        if allow_private is None:
            from feedguard.settings import settings

            allow_private = settings().allow_private_sources
        _guard(self.session, allow_private)
        self.timeout = timeout if timeout is not None else REQUEST_TIMEOUT
        self.max_attempts = max_attempts
        self.max_total_seconds = max_total_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep if sleep is not None else time.sleep
        self.usage = Usage()

    # ------------------------------------------------------------ querybatch

    def query(self, purls: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The ids of the vulnerabilities OSV lists for each purl with a
        version, keyed by the purl as asked (an empty tuple: none); every
        page followed. Purls without a version are absent: not asked."""
        distinct = [purl for purl in dict.fromkeys(purls) if has_version(purl)]
        found: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(distinct), MAX_QUERIES):
            found.update(self._query_batch(distinct[start : start + MAX_QUERIES]))
        return found

    def _query_batch(self, purls: list[str]) -> dict[str, tuple[str, ...]]:
        ids: dict[str, list[str]] = {purl: [] for purl in purls}
        tokens: dict[str, str | None] = dict.fromkeys(purls)
        pending = list(purls)
        for _ in range(MAX_PAGES):
            queries = [_query(purl, tokens[purl]) for purl in pending]
            results = self._results(self._send("POST", QUERYBATCH_PATH, {"queries": queries}), len(queries))
            self.usage.batches += 1
            following = []
            for purl, result in zip(pending, results, strict=True):
                ids[purl].extend(_listed_ids(result))
                token = result.get("next_page_token")
                if token:
                    if not isinstance(token, str):
                        raise MalformedAnswer("OSV answered a page token that is not text.", status=200)
                    tokens[purl] = token
                    following.append(purl)
            if not following:
                return {purl: tuple(dict.fromkeys(found)) for purl, found in ids.items()}
            pending = following
        raise MalformedAnswer(f"OSV answered more than {MAX_PAGES} pages for one query.", status=200)

    @staticmethod
    def _results(body: Any, asked: int) -> list[dict[str, Any]]:
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise MalformedAnswer("OSV answered a querybatch body without results.", status=200)
        if len(results) != asked:
            raise MalformedAnswer(f"OSV answered {len(results)} results for {asked} queries.", status=200)
        return results

    def probe(self) -> None:
        """The test of a source being saved: one querybatch of one query,
        read as scans read it. OSV charges nothing for it."""
        self.query([PROBE_PURL])

    # ------------------------------------------------------------ records

    def record(self, vulnerability_id: str) -> dict[str, Any]:
        """The record of one id, as OSV answers it (withdrawn ones included)."""
        body = self._send("GET", VULNS_PATH + quote(vulnerability_id, safe=""), None)
        self.usage.records += 1
        if not isinstance(body, dict) or body.get("id") != vulnerability_id:
            raise MalformedAnswer("OSV answered a record that is not the one asked for.", status=200)
        return body

    # ------------------------------------------------------------ transport

    def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        response = self._exchange(method, self.url + path, payload, headers)
        try:
            return response.json()
        except ValueError:
            raise MalformedAnswer("OSV answered a body that is not JSON", status=200) from None


def _query(purl: str, page_token: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"package": {"purl": purl}}
    if page_token:
        query["page_token"] = page_token
    return query


def _listed_ids(result: dict[str, Any]) -> list[str]:
    vulns = result.get("vulns", [])  # absent, not [], when nothing matched
    if not isinstance(vulns, list) or not all(isinstance(v, dict) and isinstance(v.get("id"), str) for v in vulns):
        raise MalformedAnswer("OSV answered malformed vulns.", status=200)
    return [v["id"] for v in vulns]


def has_version(purl: str) -> bool:
    try:
        return bool(PackageURL.from_string(purl).version)
    except ValueError:
        return False


# ---------------------------------------------------------------- records to the domain


def trimmed(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the answer cache keeps of a record: what `vulnerability` and
    `fixed_versions` read. `affected[].versions` (every affected version,
    thousands for some packages) and the rest are left out, so an item stays
    far below DynamoDB's 400 KB."""
    keep = ("id", "modified", "summary", "details", "aliases", "severity", "withdrawn")
    out = {name: record[name] for name in keep if name in record}
    out["affected"] = [
        {name: entry[name] for name in ("package", "ranges", "severity") if name in entry}
        for entry in record.get("affected") or []
        if isinstance(entry, dict)
    ]
    out["references"] = [
        {"url": r["url"]} for r in record.get("references") or [] if isinstance(r, dict) and "url" in r
    ]
    cwe_ids = (
        (record.get("database_specific") or {}).get("cwe_ids")
        if isinstance(record.get("database_specific"), dict)
        else None
    )
    if cwe_ids:
        out["database_specific"] = {"cwe_ids": cwe_ids}
    return out


def score(kind: str, vector: str) -> float | None:
    """The base score of one `severity[]` entry; None for one that is not a
    CVSS vector this reads (logged)."""
    try:
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V3":
            if not vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
                raise CVSSError("not a CVSS 3.0 or 3.1 vector")
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V2":
            return float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, TypeError) as error:  # the package raises CVSSError subclasses
        logger.warning(
            "OSV severity vector ignored", extra={"type": kind, "vector": vector[:200], "reason": str(error)}
        )
        return None
    return None  # Ubuntu's priority words and types yet unknown carry no CVSS score


def _severities(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    entries = list(record.get("severity") or [])
    for affected in record.get("affected") or []:
        if isinstance(affected, dict):
            entries.extend(affected.get("severity") or [])
    return [
        (entry["type"], entry["score"])
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and isinstance(entry.get("score"), str)
    ]


def _text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value.strip() else None


def vulnerability(record: Mapping[str, Any]) -> Vulnerability:
    """The domain's Vulnerability of one record."""
    vid = record.get("id")
    if not isinstance(vid, str) or not vid:
        raise MalformedAnswer("OSV answered a record without an id.", status=200)
    best: tuple[float, str] | None = None
    for kind, vector in _severities(record):
        value = score(kind, vector)
        if value is not None and (best is None or value > best[0]):
            best = (value, vector)
    aliases = tuple(a for a in record.get("aliases") or [] if isinstance(a, str))
    details = _text(record, "details")
    summary = _text(record, "summary")
    title = summary.strip() if summary else (details.strip().splitlines()[0][:200] if details else None)
    cwe_ids = (record.get("database_specific") or {}).get("cwe_ids") or []
    references = tuple(
        r["url"] for r in record.get("references") or [] if isinstance(r, dict) and isinstance(r.get("url"), str)
    )
    return Vulnerability(
        id=vid,
        display_name=vid,
        title=title,
        description=details,
        cvss_score=best[0] if best else None,
        cvss_vector=best[1] if best else None,
        cwe=next((c for c in cwe_ids if isinstance(c, str)), None),
        cve=next((name for name in (vid, *aliases) if name.startswith("CVE-")), None),
        reference=RECORD_PAGE + quote(vid, safe=""),
        external_references=references,
        aliases=aliases,
    )


def _normal_name(ecosystem: str, name: str) -> str:
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def package_of(purl: str) -> tuple[str, str] | None:
    """(OSV ecosystem, name) of a purl, as osv.dev maps them; None for a type OSV has no ecosystem for."""
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return None
    ecosystem = ECOSYSTEMS.get(parsed.type)
    if ecosystem is None:
        return None
    if parsed.type in ("maven", "gradle"):
        name = f"{parsed.namespace}:{parsed.name}" if parsed.namespace else parsed.name
    else:
        name = f"{parsed.namespace}/{parsed.name}" if parsed.namespace else parsed.name
    return ecosystem, _normal_name(ecosystem, name)


def fixed_versions(record: Mapping[str, Any], purl: str) -> tuple[str, ...]:
    """The versions that fix the record's flaw in the purl's package: every
    `fixed` event of the ranges of the `affected` entries of that package
    (ecosystem and name as osv.dev maps the purl), in order, once each."""
    package = package_of(purl)
    if package is None:
        return ()
    found: list[str] = []
    for affected in record.get("affected") or []:
        described = affected.get("package") if isinstance(affected, dict) else None
        if not isinstance(described, dict):
            continue
        ecosystem, name = described.get("ecosystem"), described.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str):
            continue
        if (ecosystem.split(":", 1)[0], _normal_name(ecosystem, name)) != package:
            continue
        for version_range in affected.get("ranges") or []:
            if not isinstance(version_range, dict) or version_range.get("type") == "GIT":
                continue  # a GIT range's events are commits, not versions
            for event in version_range.get("events") or []:
                if isinstance(event, dict) and isinstance(event.get("fixed"), str):
                    found.append(event["fixed"])
    return tuple(dict.fromkeys(found))


def report(purl: str, records: Iterable[Mapping[str, Any]]) -> Report:
    """The Report of one purl from the records OSV listed for it; a
    withdrawn record is left out (its finding is withdrawn once no package
    of the feed reports it)."""
    vulnerabilities = []
    fixed: dict[str, tuple[str, ...]] = {}
    for record in records:
        if record.get("withdrawn"):
            continue
        found = vulnerability(record)
        vulnerabilities.append(found)
        versions = fixed_versions(record, purl)
        if versions:
            fixed[found.id] = versions
    return Report(tuple(vulnerabilities), fixed_versions=fixed)
