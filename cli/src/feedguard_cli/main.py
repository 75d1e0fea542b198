"""The `feedguard` command: each subcommand is a few HTTP calls of the
contract and a way to show their answer. Exit codes are the same for all:

0  done; for check, every package allowed (or only warn without --fail-on warn)
1  the service answered, and the answer is a failure: check's policy failed,
   a scan failed, an assessment met a newer version (412) or a conflict (409),
   ids that are not findings of the feed
2  bad usage or input, named: options, an unreadable BOM, an invalid purl,
   and anything the service refused as invalid (400, 413, 422)
3  no answer could be had: unreachable, timed out, the key refused (401/403),
   no such feed or resource (404), 5xx after retries, or feedguard itself failed
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urljoin

import click

from feedguard_cli import __version__, reports
from feedguard_cli.client import Client, ServiceError, Unreachable, path
from feedguard_cli.inputs import (
    InputError,
    check_purls,
    chunks,
    from_arguments,
    read_bom,
    read_packages,
)
from feedguard_cli.progress import Progress

CHECK_CHUNK = 128  # POST /feeds/{feed}/check takes at most 128 purls
IMPORT_CHUNK = 10_000  # POST /feeds/{feed}/packages takes at most 10,000
ASSESS_CHUNK = 100  # POST /feeds/{feed}/assessments takes at most 100 ids
SCAN_ENDED = ("succeeded", "partial", "failed")

F = TypeVar("F", bound=Callable[..., Any])


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNAVAILABLE = 3


class Failure(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class State:
    """What run() needs after a command: the key to redact, and --debug."""

    key: str = ""
    debug: bool = False


STATE = State()

EXIT_CODES = """\b
Exit codes:
  0  done; for check: every package allowed (or only warn without --fail-on warn)
  1  the answer is a failure: check's policy failed, the scan failed,
     a newer assessment (412), ids that are no findings of the feed
  2  bad usage or input: options, an unreadable BOM, an invalid purl,
     or what the service refused as invalid (400, 413, 422)
  3  no answer: unreachable or timed out, the key refused (401, 403),
     no such feed (404), 5xx after retries
"""

ENVIRONMENT = """\b
Environment:
  FEEDGUARD_URL   the service, e.g. https://api.example.com/Prod (or --url)
  FEEDGUARD_KEY   an API key with a role on the feed (or --key); never shown
  FEEDGUARD_FEED  the feed, when --feed is not given
"""


def _settings(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Options every command shares, kept on the context (not passed on)."""
    ctx.meta[f"feedguard.{param.name}"] = value
    if param.name == "key" and value:
        STATE.key = str(value).strip()
    if param.name == "debug":
        STATE.debug = bool(value)
    return value


def connection_options(command: F) -> F:
    options = [
        click.option(
            "--url",
            envvar="FEEDGUARD_URL",
            metavar="URL",
            help="The feedguard API [env FEEDGUARD_URL].",
            callback=_settings,
            expose_value=False,
        ),
        click.option(
            "--key",
            envvar="FEEDGUARD_KEY",
            metavar="KEY",
            help="The API key [env FEEDGUARD_KEY]. Prefer the variable: arguments show in process lists.",
            callback=_settings,
            expose_value=False,
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=1),
            default=60.0,
            show_default=True,
            help="Seconds to wait for one answer.",
            callback=_settings,
            expose_value=False,
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0, max=10),
            default=4,
            show_default=True,
            help="Retries of 429, 502, 503, 504 and connection errors, with backoff (Retry-After honoured, "
            "at most 30 s a wait).",
            callback=_settings,
            expose_value=False,
        ),
        click.option(
            "--debug",
            is_flag=True,
            help="On an unexpected error, print the traceback (the key is never in it).",
            callback=_settings,
            expose_value=False,
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def feed_option(command: F) -> F:
    return click.option(
        "--feed", envvar="FEEDGUARD_FEED", required=True, metavar="FEED", help="The feed [env FEEDGUARD_FEED]."
    )(command)


def client() -> Client:
    meta = click.get_current_context().meta
    url = (meta.get("feedguard.url") or "").strip()
    key = (meta.get("feedguard.key") or "").strip()
    if not url:
        raise Failure(Exit.USAGE, "No service URL: set FEEDGUARD_URL or pass --url.")
    if not url.startswith(("https://", "http://")):
        raise Failure(Exit.USAGE, f"The service URL must start with https:// or http://, not {url!r}.")
    if not key:
        raise Failure(Exit.USAGE, "No API key: set FEEDGUARD_KEY or pass --key.")
    if any(not 33 <= ord(character) <= 126 for character in key):
        # requests would put the header's value in its error message
        raise Failure(Exit.USAGE, "The API key has characters an HTTP header cannot carry (spaces or control).")
    return Client(url, key, timeout=meta["feedguard.timeout"], retries=meta["feedguard.retries"])


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    click.echo(redact(text), err=err, nl=nl)


def redact(text: str) -> str:
    keys = {STATE.key, os.environ.get("FEEDGUARD_KEY", "").strip()}
    for key in sorted(filter(None, keys), key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def _details(error: ServiceError) -> list[str]:
    lines = []
    for detail in error.details:
        if isinstance(detail, dict):
            subject = detail.get("purl") or detail.get("id") or detail.get("field") or detail.get("loc")
            message = detail.get("message") or detail.get("msg") or json.dumps(detail)
            lines.append(f"  {subject}: {message}" if subject else f"  {message}")
        else:
            lines.append(f"  {detail}")
    return lines


def service_failure(error: ServiceError, conflicts: Exit = Exit.FAILED) -> Failure:
    if error.status in (400, 413, 422):
        code = Exit.USAGE
    elif error.status in (409, 412):
        code = conflicts
    else:
        code = Exit.UNAVAILABLE
    return Failure(code, "\n".join([f"the service answered {error.status}: {error.message}", *_details(error)]))


EPILOG = "\n\n".join([ENVIRONMENT, EXIT_CODES])


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="feedguard")
def cli() -> None:
    """Ask a feedguard feed's gate from CI, import packages, scan, triage
    findings and export VEX, over feedguard's HTTP API.

    \b
    Examples:
      export FEEDGUARD_URL=https://feedguard.example.com FEEDGUARD_KEY=...
      feedguard check --feed payments --bom bom.json
      feedguard check --feed payments pkg:npm/lodash@4.17.20 --format json
      feedguard scan --feed payments --wait
    """


@cli.command(epilog=EXIT_CODES)
@feed_option
@click.argument("purls", nargs=-1, metavar="[PURL]...")
@click.option(
    "--bom",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="A CycloneDX JSON BOM: every component's purl, nested ones too. Components without one are "
    "reported as skipped.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["block", "warn"]),
    default="block",
    show_default=True,
    help="The weakest verdict that fails the check.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(reports.FORMATS)),
    default="table",
    show_default=True,
    help="table for people; json; sarif (2.1.0, for GitHub code scanning); junit (XML, a test case per purl).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write the --format report to FILE and print the table on standard output.",
)
@connection_options
def check(
    feed: str, purls: tuple[str, ...], bom: Path | None, fail_on: str, output_format: str, output: Path | None
) -> int:
    """May these packages be used? Asks the feed's gate for every purl given,
    or every component of a BOM (128 a request, in order), and prints each
    purl's verdict and vulnerabilities.

    \b
    Examples:
      feedguard check --feed payments pkg:npm/lodash@4.17.20 pkg:pypi/django@3.2.0
      feedguard check --feed payments --bom bom.json --fail-on warn
      feedguard check --feed payments --bom bom.json --format sarif -o feedguard.sarif
      feedguard check --feed payments --bom bom.json --format junit > feedguard.xml
    """
    if purls and bom:
        raise click.UsageError("Give purls or --bom FILE, not both.")
    if not purls and not bom:
        raise click.UsageError("Nothing to check: give purls or --bom FILE.")
    try:
        packages = read_bom(bom) if bom else from_arguments(purls)
        check_purls(packages.purls)
    except InputError as error:
        raise Failure(Exit.USAGE, str(error)) from None
    for entry in packages.skipped:
        echo(f"skipped: {entry}", err=True)
    service = client()
    results: list[dict[str, Any]] = []
    for chunk in chunks(packages.purls, CHECK_CHUNK):
        try:
            answer = service.json("POST", path("feeds", feed, "check"), json={"purls": list(chunk)})
        except ServiceError as error:
            raise service_failure(error) from None
        for asked, result in zip(chunk, answer["results"], strict=True):
            results.append({**result, "line": packages.lines[asked]})
    checked = reports.Checked(feed, results, packages.source, packages.skipped, fail_on)
    report = reports.FORMATS[output_format](checked)
    if output is None:
        echo(report, nl=False)
    else:
        write(output, report.encode())
        echo(reports.table(checked), nl=False)
        echo(f"{output_format} report written to {output}", err=True)
    return Exit.FAILED if checked.failed else Exit.OK


def write(file: Path, body: bytes) -> None:
    try:
        file.write_bytes(body)
    except OSError as error:
        raise Failure(Exit.USAGE, f"{file}: cannot be written ({error.strerror}).") from None


@cli.command("import", epilog=EXIT_CODES)
@feed_option
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@connection_options
def import_(feed: str, file: Path) -> int:
    """Adds packages to a feed from FILE: a CycloneDX JSON BOM, or one purl a
    line (# comments allowed). Sends 10,000 a request, with a progress bar on
    a terminal, and prints what was added, what was there, and each rejection
    with its reason. New packages are scanned at once.

    \b
    Examples:
      feedguard import --feed payments bom.json
      feedguard import --feed payments purls.txt
    """
    try:
        packages = read_packages(file)
    except InputError as error:
        raise Failure(Exit.USAGE, str(error)) from None
    if not packages.purls and not packages.skipped:
        raise Failure(Exit.USAGE, f"{file}: no packages in it.")
    service = client()
    added, existing = 0, 0
    rejected: list[tuple[str | None, str]] = [(None, f"The component at {entry}.") for entry in packages.skipped]
    scans: list[str] = []
    progress = Progress(f"importing into {feed}")
    try:
        for number, chunk in enumerate(chunks(packages.purls, IMPORT_CHUNK)):
            progress.update(number * IMPORT_CHUNK, len(packages.purls), "packages")
            answer = service.json("POST", path("feeds", feed, "packages"), json={"purls": list(chunk)})
            added += answer["added"]
            existing += answer["existing"]
            rejected += [(entry.get("purl"), entry.get("message", "")) for entry in answer["rejected"]]
            if answer.get("scan_id") and answer["scan_id"] not in scans:
                scans.append(answer["scan_id"])
        if packages.purls:
            progress.update(len(packages.purls), len(packages.purls), "packages")
    except ServiceError as error:
        raise service_failure(error) from None
    finally:
        progress.close()
    echo(f"added {added}, existing {existing}, rejected {len(rejected)}")
    for purl, message in rejected:
        echo(f"rejected: {purl}: {message}" if purl else f"rejected: {message}")
    for scan in scans:
        echo(f"scan queued: {scan}")
    return Exit.OK


@cli.command(epilog=EXIT_CODES)
@click.option("--feed", envvar="FEEDGUARD_FEED", metavar="FEED", help="The feed; without it, every feed (admin).")
@click.option("--refresh", is_flag=True, help="Ignore cached answers of the sources.")
@click.option("--wait", is_flag=True, help="Follow the scan until it ends; exit 1 if it failed.")
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between polls."
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Give up waiting after this many seconds (exit 3).",
)
@connection_options
def scan(feed: str | None, refresh: bool, wait: bool, interval: float, wait_timeout: float) -> int:
    """Starts a scan of a feed (a manager's right), or of every feed (the
    admin's). With --wait, shows packages_scanned of packages_total (a bar
    on a terminal, a line per change otherwise) until the scan ends, then
    its figures; a failed scan prints its errors and exits 1. If a scan of
    the feed is already queued or running, that one is followed.

    \b
    Examples:
      feedguard scan --feed payments
      feedguard scan --feed payments --refresh --wait
    """
    service = client()
    body: dict[str, Any] = {"refresh": refresh}
    if feed:
        body["feed"] = feed
    try:
        started = service.json("POST", "/scans", json=body)
        scan_id = str(started["id"])
        echo(f"scan {scan_id} {started.get('status', 'queued')}", err=wait)
    except ServiceError as error:
        running = _running_scan(error)
        if error.status != 409 or running is None:
            raise service_failure(error) from None
        scan_id = running
        echo(f"a scan is already queued or running: {scan_id}", err=wait)
    if not wait:
        return Exit.OK
    return _follow(service, scan_id, interval, wait_timeout)


def _running_scan(error: ServiceError) -> str | None:
    """The id of the scan a 409 names in its details, if it names one."""
    for detail in error.details:
        if isinstance(detail, dict):
            for key in ("id", "scan_id"):
                if isinstance(detail.get(key), str):
                    return str(detail[key])
        elif isinstance(detail, str) and detail:
            return detail
    return None


def _follow(service: Client, scan_id: str, interval: float, wait_timeout: float) -> int:
    progress = Progress(f"scan {scan_id}", lines=True)
    deadline = time.monotonic() + wait_timeout
    try:
        while True:
            try:
                current = service.json("GET", path("scans", scan_id))
            except ServiceError as error:
                raise service_failure(error) from None
            progress.update(current["packages_scanned"], current["packages_total"], f"packages, {current['status']}")
            if current["status"] in SCAN_ENDED:
                break
            if time.monotonic() > deadline:
                raise Failure(Exit.UNAVAILABLE, f"scan {scan_id} did not end within {wait_timeout:g} s.")
            time.sleep(interval)
    finally:
        progress.close()
    echo(
        f"scan {scan_id} {current['status']}: {current['packages_scanned']}/{current['packages_total']} packages, "
        f"{current['requests_made']} requests, {current['cache_hits']} cache hits, "
        f"{current['findings_new']} new findings"
    )
    for scan_error in current.get("errors") or []:
        echo(f"error: {scan_error.get('source') or 'scan'}: {scan_error.get('message')}", err=True)
    return Exit.FAILED if current["status"] == "failed" else Exit.OK


@cli.command(epilog=EXIT_CODES)
@feed_option
@click.option("--status", type=click.Choice(["unassessed", "assessed", "expired"]), help="Only findings in this state.")
@click.option("--min-cvss", type=click.FloatRange(0, 10), metavar="SCORE", help="Only findings scored at least this.")
@click.option(
    "--severity",
    type=click.Choice(["none", "low", "medium", "high", "critical"]),
    help="Only findings in this CVSS v3 band.",
)
@click.option("--package", metavar="PURL", help="Only findings reported for this package.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@connection_options
def vulns(
    feed: str, status: str | None, min_cvss: float | None, severity: str | None, package: str | None, output_format: str
) -> int:
    """Lists the feed's findings (every page), with their status, effect and
    assessment.

    \b
    Examples:
      feedguard vulns --feed payments --status unassessed --min-cvss 7
      feedguard vulns --feed payments --severity critical --format json
    """
    params = {
        name: value
        for name, value in (("status", status), ("min_cvss", min_cvss), ("severity", severity), ("package", package))
        if value is not None
    }
    try:
        findings = list(client().pages(path("feeds", feed, "vulnerabilities"), params))
    except ServiceError as error:
        raise service_failure(error) from None
    if output_format == "json":
        echo(json.dumps(findings, indent=2))
        return Exit.OK
    rows = [("ID", "CVSS", "SEVERITY", "STATUS", "EFFECT", "EXPIRES", "PACKAGES", "TITLE")]
    for finding in findings:
        assessment = finding.get("assessment") or {}
        score = finding.get("cvss_score")
        rows.append(
            (
                finding["id"],
                "-" if score is None else f"{score:.1f}",
                finding.get("severity", "-"),
                finding["status"] + (f" ({assessment['type']})" if assessment.get("type") else ""),
                finding["effect"],
                (assessment.get("expires_at") or "-")[:10],
                " ".join(finding.get("packages", [])),
                finding.get("title") or "",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        echo("  ".join(f"{cell:<{width}}" for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    echo(f"\n{len(findings)} finding{'' if len(findings) == 1 else 's'} in feed {feed}", err=True)
    return Exit.OK


def expiry(value: str | None) -> tuple[bool, str | None]:
    """(given, expires_at) from --expires: a date (midnight UTC), a
    timestamp, or `never`."""
    if value is None:
        return False, None
    if value.lower() == "never":
        return True, None
    try:
        if len(value) == 10:
            return True, date.fromisoformat(value).isoformat() + "T00:00:00Z"
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (2027-03-31), a timestamp (2027-03-31T12:00:00Z) or never.",
            param_hint="--expires",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return True, moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@cli.command(epilog=EXIT_CODES)
@feed_option
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--type", "type_id", required=True, metavar="TYPE", help="An assessment type id: ignore, caution, ...")
@click.option("--comment", metavar="TEXT", help="Why; kept in the finding's history.")
@click.option(
    "--expires",
    metavar="DATE",
    help="2027-03-31 (midnight UTC), a timestamp, or never; default: the type's expiration_days.",
)
@click.option(
    "--if-match",
    type=int,
    metavar="VERSION",
    help="Only if the finding's assessment is still at this version (one ID only); else exit 1.",
)
@connection_options
def assess(
    feed: str, ids: tuple[str, ...], type_id: str, comment: str | None, expires: str | None, if_match: int | None
) -> int:
    """Assesses findings of the feed (an assessor's right). One ID is one
    PUT (with --if-match, refused if someone assessed it meanwhile);
    several use the bulk route, 100 a request, and name ids that are not
    findings of the feed (exit 1).

    \b
    Examples:
      feedguard assess --feed payments CVE-2021-44228 --type blocked --comment "no fix deployed yet"
      feedguard assess --feed payments CVE-2020-8203 CVE-2021-23337 --type ignore --expires 2027-03-31
      feedguard assess --feed payments CVE-2021-23337 --type caution --if-match 3
    """
    if if_match is not None and len(ids) > 1:
        raise click.UsageError("--if-match applies to one ID at a time.")
    given, expires_at = expiry(expires)
    body: dict[str, Any] = {"type": type_id}
    if comment is not None:
        body["comment"] = comment
    if given:
        body["expires_at"] = expires_at
    service = client()
    unique = list(dict.fromkeys(ids))
    try:
        if len(unique) == 1:
            headers = {"If-Match": str(if_match)} if if_match is not None else None
            answer = service.json(
                "PUT", path("feeds", feed, "vulnerabilities", unique[0], "assessment"), json=body, headers=headers
            )
            until = answer.get("expires_at") or "never"
            echo(
                f"{unique[0]}: {answer['type']} ({answer['effect']}) by {answer['assessed_by']}, "
                f"expires {until}, version {answer['version']}"
            )
            return Exit.OK
        assessed, missing = 0, []
        for chunk in chunks(unique, ASSESS_CHUNK):
            answer = service.json(
                "POST", path("feeds", feed, "assessments"), json={**body, "vulnerability_ids": list(chunk)}
            )
            assessed += answer["assessed"]
            missing += answer["missing"]
    except ServiceError as error:
        raise service_failure(error) from None
    echo(f"assessed {assessed} as {type_id}")
    for vulnerability_id in missing:
        echo(f"missing: {vulnerability_id} is not a finding of feed {feed}", err=True)
    return Exit.FAILED if missing else Exit.OK


@cli.command(epilog=EXIT_CODES)
@feed_option
@click.option(
    "--format",
    "vex_format",
    type=click.Choice(["cyclonedx", "openvex"]),
    required=True,
    help="CycloneDX 1.6 VEX (JSON) or OpenVEX 0.2.0.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE", help="Write to FILE.")
@connection_options
def vex(feed: str, vex_format: str, output: Path | None) -> int:
    """Exports the feed's findings and their decisions as VEX, for scanners
    that read it (unassessed and expired ones are in triage), on standard
    output or to FILE. An export the service sends in several pages (past
    its 6 MB response limit) is fetched whole and merged into one document.

    \b
    Examples:
      feedguard vex --feed payments --format cyclonedx -o payments.vex.json
      feedguard vex --feed payments --format openvex > payments.openvex.json
    """
    service = client()
    pages: list[bytes] = []
    route: str | None = path("feeds", feed, "vex")
    params: dict[str, str] | None = {"format": vex_format}
    seen: set[str] = set()
    try:
        while route is not None:
            answer = service.request("GET", route, params=params, headers={"Accept": "*/*"})
            pages.append(answer.content)
            following = answer.links.get("next", {}).get("url")
            route, params = None, None
            if following:
                target = urljoin(answer.url, following)
                route = service.route_of(target)
                if route is None:
                    outside = target.split("?", maxsplit=1)[0]
                    raise Failure(Exit.UNAVAILABLE, f"the next page is at {outside}, not under the service's URL.")
                if route in seen:
                    raise Failure(Exit.UNAVAILABLE, f"the service linked to a page it sent already ({route}).")
                seen.add(route)
    except ServiceError as error:
        raise service_failure(error) from None
    body = pages[0] if len(pages) == 1 else merge_vex(vex_format, pages)
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    else:
        write(output, body)
        merged = f", {len(pages)} pages merged" if len(pages) > 1 else ""
        echo(f"{vex_format} VEX of feed {feed} written to {output} ({len(body)} bytes{merged})", err=True)
    return Exit.OK


def merge_vex(vex_format: str, pages: list[bytes]) -> bytes:
    """One document of an export's pages: the first page's header, every
    page's vulnerabilities and components (once each), or statements."""
    try:
        documents = [json.loads(page) for page in pages]
    except ValueError:
        raise Failure(Exit.UNAVAILABLE, "a page of the VEX export is not JSON.") from None
    merged = documents[0]
    if vex_format == "cyclonedx":
        components = {
            component.get("bom-ref") or component.get("purl") or json.dumps(component): component
            for document in documents
            for component in document.get("components", [])
        }
        merged["components"] = [components[ref] for ref in sorted(components)]
        merged["vulnerabilities"] = [v for document in documents for v in document.get("vulnerabilities", [])]
    else:
        merged["statements"] = [s for document in documents for s in document.get("statements", [])]
    return json.dumps(merged, separators=(",", ":")).encode()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns its exit code. Every error is shown here,
    in one line of its own, and never with the key."""
    STATE.key, STATE.debug = "", False
    try:
        code = cli.main(args=argv, prog_name="feedguard", standalone_mode=False)
    except click.ClickException as error:
        shown = io.StringIO()
        error.show(file=shown)
        echo(shown.getvalue(), err=True, nl=False)
        return Exit.USAGE
    except click.Abort:
        echo("Aborted.", err=True)
        return 130
    except Failure as failure:
        echo(f"feedguard: {failure.message}", err=True)
        return int(failure.code)
    except ServiceError as error:
        mapped = service_failure(error)
        echo(f"feedguard: {mapped.message}", err=True)
        return int(mapped.code)
    except Unreachable as error:
        echo(f"feedguard: the service could not be reached: {error}", err=True)
        return Exit.UNAVAILABLE
    except Exception as error:  # noqa: BLE001 - the last resort: a line, not a traceback with values in it
        if STATE.debug:
            echo("".join(traceback.format_exception(type(error), error, error.__traceback__)), err=True, nl=False)
        echo(
            f"feedguard: unexpected error: {type(error).__name__}: {error}"
            + ("" if STATE.debug else " (--debug shows the traceback)"),
            err=True,
        )
        return Exit.UNAVAILABLE
    return int(code or 0)


def run() -> NoReturn:
    sys.exit(main())
