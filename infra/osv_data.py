"""What the fake OSV knows: a few well-known vulnerable packages, as OSV
records.

Written for feedguard in the shape of osv.dev's API output (OSV schema
1.6): `severity[].score` is a CVSS *vector*, never a number; `aliases`
name the same flaw elsewhere (the CVE); `affected[].ranges[].events` give
`introduced` and `fixed` versions; GitHub-imported records carry
`database_specific.cwe_ids`. The texts are feedguard's own summaries.

Cases the fake plays with them:
- lodash 4.17.20 lists three records, so with the fake's page size of two
  its querybatch result comes in two pages;
- FGDEMO-2026-0001 is withdrawn, yet listed for lodash: as a list cached
  (or indexed) before the withdrawal would list it; the record says so;
- jinja2 2.4.1's record has a CVSS v4 vector and a malformed v3 one, which
  is ignored.
"""

from __future__ import annotations

import hashlib
from typing import Any


def _record(
    vulnerability_id: str,
    summary: str,
    details: str,
    *,
    ecosystem: str,
    name: str,
    fixed: tuple[str, ...],
    severity: tuple[tuple[str, str], ...] = (),
    aliases: tuple[str, ...] = (),
    cwe_ids: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    modified: str = "2026-08-01T00:00:00Z",
    withdrawn: str | None = None,
) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}]
    ranges = []
    for version in fixed:
        ranges.append({"type": "ECOSYSTEM", "events": [*events, {"fixed": version}]})
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": vulnerability_id,
        "modified": modified,
        "published": "2021-05-06T16:05:51Z",
        "aliases": list(aliases),
        "summary": summary,
        "details": details,
        "severity": [{"type": kind, "score": vector} for kind, vector in severity],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": ranges,
                "database_specific": {"source": f"https://example.invalid/advisories/{vulnerability_id}.json"},
            }
        ],
        "references": [{"type": "WEB", "url": url} for url in references],
    }
    if cwe_ids:
        record["database_specific"] = {"cwe_ids": list(cwe_ids), "github_reviewed": True, "severity": "HIGH"}
    if withdrawn:
        record["withdrawn"] = withdrawn
    return record


RECORDS: dict[str, dict[str, Any]] = {
    record["id"]: record
    for record in (
        _record(
            "GHSA-35jh-r3h4-6jhm",
            "Command Injection in lodash",
            "`lodash` before 4.17.21 lets an attacker who controls a `template` option run code.",
            ecosystem="npm",
            name="lodash",
            fixed=("4.17.21",),
            severity=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"),),
            aliases=("CVE-2021-23337",),
            cwe_ids=("CWE-77", "CWE-94"),
            references=("https://nvd.nist.gov/vuln/detail/CVE-2021-23337",),
        ),
        _record(
            "GHSA-29mw-wpgm-hmr9",
            "Regular Expression Denial of Service (ReDoS) in lodash",
            "Some `lodash` string functions take time that grows faster than their input before 4.17.21.",
            ecosystem="npm",
            name="lodash",
            fixed=("4.17.21",),
            severity=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"),),
            aliases=("CVE-2020-28500",),
            cwe_ids=("CWE-400",),
            references=("https://nvd.nist.gov/vuln/detail/CVE-2020-28500",),
        ),
        _record(
            "FGDEMO-2026-0001",
            "A lodash advisory that was withdrawn",
            "Published in error and withdrawn: it affects nothing.",
            ecosystem="npm",
            name="lodash",
            fixed=("4.17.21",),
            severity=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
            withdrawn="2026-09-01T00:00:00Z",
        ),
        _record(
            "GHSA-jfh8-c2jp-5v3q",
            "Remote code injection in Log4j",
            "Log4j 2 before 2.15.0 looks up JNDI names found in logged text (Log4Shell).",
            ecosystem="Maven",
            name="org.apache.logging.log4j:log4j-core",
            fixed=("2.15.0", "2.12.2"),
            severity=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),),
            aliases=("CVE-2021-44228",),
            cwe_ids=("CWE-502", "CWE-917"),
            references=("https://nvd.nist.gov/vuln/detail/CVE-2021-44228",),
        ),
        _record(
            "GHSA-462w-v97r-4m45",
            "Jinja2 sandbox escape via string formatting",
            "In the Jinja2 sandbox before 2.10.1, `str.format_map` lets a template escape.",
            ecosystem="PyPI",
            name="jinja2",
            fixed=("2.10.1",),
            severity=(
                ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N"),
                ("CVSS_V3", "CVSS:3.1/AV:X/not-a-vector"),
            ),
            aliases=("CVE-2019-10906",),
            cwe_ids=("CWE-693",),
        ),
    )
}

# purl (canonical, with its version) -> the ids querybatch lists for it, in order.
AFFECTS: dict[str, tuple[str, ...]] = {
    "pkg:npm/lodash@4.17.20": ("GHSA-35jh-r3h4-6jhm", "GHSA-29mw-wpgm-hmr9", "FGDEMO-2026-0001"),
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1": ("GHSA-jfh8-c2jp-5v3q",),
    "pkg:pypi/jinja2@2.4.1": ("GHSA-462w-v97r-4m45",),
}

# Made-up records for made-up packages (the fake's vulnerable_share): drawn
# from a pool, so packages share them as real ones do, and a scan's
# distinct records are fewer than its listings.
MADE_UP_POOL = 500
MADE_UP_VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
)


def made_up_ids(purl: str) -> tuple[str, ...]:
    """One to three ids for a package the fake does not know, the same for
    every version of it and every time."""
    digest = hashlib.sha256(purl.rsplit("@", 1)[0].encode()).digest()
    return tuple(
        dict.fromkeys(
            f"FGBENCH-{int.from_bytes(digest[1 + 2 * k : 3 + 2 * k], 'big') % MADE_UP_POOL:04d}"
            for k in range(1 + digest[0] % 3)
        )
    )


def made_up_record(vulnerability_id: str) -> dict[str, Any] | None:
    if not vulnerability_id.startswith("FGBENCH-"):
        return None
    number = int(vulnerability_id.removeprefix("FGBENCH-"))
    return {
        "schema_version": "1.6.0",
        "id": vulnerability_id,
        "modified": "2026-08-01T00:00:00Z",
        "summary": f"Made-up weakness {number} of the benchmark's packages",
        "details": "A made-up record, so that a benchmark's scan finds something.",
        "severity": [{"type": "CVSS_V3", "score": MADE_UP_VECTORS[number % len(MADE_UP_VECTORS)]}],
        "affected": [],
        "references": [],
    }
