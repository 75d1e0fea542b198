"""One vulnerability, whatever its name: the rules that make one finding of
the ids and aliases sources report, without AWS.

Sources name one flaw differently (OSS Index: `CVE-2021-23337`; OSV:
`GHSA-35jh-r3h4-6jhm`, with that CVE among its `aliases`). A finding is keyed
by its *canonical* id, chosen from the SET of its ids alone, so it never
depends on the order sources answered in:

1. a CVE (`CVE-<year>-<number>`) when there is one; of several, the lowest
   by (year, number);
2. else a GitHub advisory (`GHSA-…`), the lowest lexicographically;
3. else the lowest id lexicographically.

That is the minimum of the set under one total order (`rank`), so it is
monotone: learning more ids can only move the canonical id down that order,
never back, and canonical(A | B) = min(canonical(A), canonical(B)). A
finding's key therefore changes at most when an alias of a lower rank is
learnt, never back and forth between scans (docs/data-model.md, "Aliases")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from feedguard.domain import Vulnerability

CVE = re.compile(r"^CVE-(\d{4})-(\d{4,})$")
GHSA = re.compile(r"^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$")


def rank(vulnerability_id: str) -> tuple[int, int, int, str]:
    """The order canonical ids are chosen in, lowest first."""
    cve = CVE.match(vulnerability_id)
    if cve:
        return (0, int(cve.group(1)), int(cve.group(2)), vulnerability_id)
    if GHSA.match(vulnerability_id):
        return (1, 0, 0, vulnerability_id)
    return (2, 0, 0, vulnerability_id)


def canonical(ids: Iterable[str]) -> str:
    """The canonical id of a set of ids naming one vulnerability."""
    return min(ids, key=rank)


def ids_of(vulnerability: Vulnerability) -> frozenset[str]:
    """Every id a source's report names the vulnerability by: its id, its
    aliases, and its CVE (OSS Index gives a sonatype-… id the CVE it has)."""
    ids = {vulnerability.id, *vulnerability.aliases}
    if vulnerability.cve:
        ids.add(vulnerability.cve)
    return frozenset(i for i in ids if i)


def others(vulnerability: Vulnerability) -> tuple[str, ...]:
    """The ids of `vulnerability` other than its own, in order: its aliases."""
    return tuple(sorted(ids_of(vulnerability) - {vulnerability.id}))


def groups(id_sets: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    """The sets that share an id, joined (transitively): aliases are meant
    to be symmetric and transitive (OSV's schema), so two reports sharing an
    id are one vulnerability. Independent of the order of `id_sets`."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for ids in id_sets:
        members = list(ids)
        for member in members:
            parent.setdefault(member, member)
        for member in members[1:]:
            a, b = root(members[0]), root(member)
            if a != b:
                parent[max(a, b)] = min(a, b)
    joined: dict[str, set[str]] = {}
    for node in parent:
        joined.setdefault(root(node), set()).add(node)
    return sorted((frozenset(group) for group in joined.values()), key=canonical)


def representative(vulnerabilities: Iterable[Vulnerability], canonical_id: str) -> Vulnerability:
    """The report a finding takes its score and title from when sources
    name it differently: the one under the canonical id, else the highest
    score, then the lowest id. Chosen from the set, so a score does not
    flap with the order sources answered in."""

    def preference(v: Vulnerability) -> tuple[bool, float, tuple[int, int, int, str], str]:
        score = v.cvss_score if v.cvss_score is not None else -1.0
        return (v.id != canonical_id, -score, rank(v.id), v.title or "")

    return min(vulnerabilities, key=preference)
