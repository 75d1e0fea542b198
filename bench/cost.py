"""The monthly AWS bill of an organisation, from make bench's counts.

`python -m bench.cost [bench/results/bench-….json]` (the newest by default)
scales what the bench counted to ORGANISATION and prices it at PRICES: the
daily scan with nothing new (the largest scan measured, scaled by distinct
purls, and its package and finding reads by package rows), the gate check
(times the checks a month), the storage of the largest scan's tables (scaled
the same way), and what the template keeps running whatever the load. It
prints a Markdown table; docs/performance.md carries it.

Lambda's durations on AWS are not measured here (the emulator's are not
AWS's): DURATIONS_S are stated assumptions, and the table says what the
Lambda line would be at three times them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infra.template import Template

ROOT = Path(__file__).resolve().parent.parent

ORGANISATION = {
    "feeds": 200,
    "package_rows": 500_000,
    "distinct_purls": 100_000,
    "scans_a_month": 30,
    "gate_checks_a_month": 1_000_000,
}

# us-east-1, on demand, list prices before any free tier, as AWS's pricing pages
# state them on 2026-12-07 (aws.amazon.com/<service>/pricing/).
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_arm_gb_second": 0.0000133334,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_gb_month": 0.25,  # Standard table class
    "dynamodb_pitr_gb_month": 0.20,  # continuous backups
    "apigateway_rest_request": 3.50 / 1e6,  # first 333 million a month
    "sqs_request": 0.40 / 1e6,  # standard queue, each 64 KB of a payload
    "eventbridge_custom_event": 1.00 / 1e6,
    "secret_month": 0.40,
    "secrets_api_call": 0.05 / 10_000,
    "logs_gb_ingested": 0.50,
    "xray_trace": 5.00 / 1e6,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
}
# Lambda's duration on AWS, in seconds an invocation: assumptions, not measurements.
DURATIONS_S = {
    "AuthorizerFunction": 0.02,  # one GetItem
    "GateFunction": 0.10,  # three round trips and the verdicts
    "ScanWorkerFunction": 2.0,  # one OSS Index request of 128 coordinates, then DynamoDB
    "ScanCoordinatorFunction": 30.0,  # every feed's packages read and merged
}
DEFAULT_DURATION_S = 0.2
# A Lambda SQS event source mapping long-polls its queue with five pollers while idle: 20-second
# receives, each a billed request.
IDLE_RECEIVES_A_MONTH = 5 * 3 * 60 * 24 * 30
# Log bytes Lambda itself writes per invocation (START, END and REPORT lines).
PLATFORM_LOG_BYTES = 350
SCALED_BY_ROWS = ("PackagesTable", "FindingsTable")


def newest_results() -> Path:
    return max((ROOT / "bench" / "results").glob("bench-*.json"))


def largest_scan(results: dict[str, Any]) -> dict[str, Any]:
    scans = [value for key, value in results.items() if key.startswith("scan_")]
    return max(scans, key=lambda scan: scan["distinct_purls"])


def units(phase: dict[str, Any], by_purl: float, by_row: float) -> tuple[float, float]:
    """(read units, write units) of a phase, each table scaled by purls or rows."""
    reads = writes = 0.0
    for table, kinds in phase["dynamodb_units_by_table"].items():
        factor = by_row if table.split(".")[0] in SCALED_BY_ROWS else by_purl
        reads += kinds.get("read", 0.0) * factor
        writes += (kinds.get("write", 0.0) + kinds.get("index write", 0.0)) * factor
    return reads, writes


def worker_invocations(daily: dict[str, Any], by_purl: float, scans: int) -> dict[str, float]:
    """A month of daily scans' invocations: the coordinator once a scan, and
    the worker once a batch (an OSS Index request), as an event source
    mapping of batch size 1 invokes it, whatever the measured worker did."""
    invocations = {
        name: count * by_purl * scans
        for name, count in daily["lambda_invocations"].items()
        if name not in ("ScanCoordinatorFunction", "ScanWorkerFunction")
    }
    invocations["ScanCoordinatorFunction"] = scans
    invocations["ScanWorkerFunction"] = daily["ossindex_requests"] * by_purl * scans
    return invocations


def lambda_cost(invocations: dict[str, float], memory: dict[str, int], slower: float = 1.0) -> float:
    requests = sum(invocations.values()) * PRICES["lambda_request"]
    seconds = sum(
        count * DURATIONS_S.get(name, DEFAULT_DURATION_S) * slower * memory[name] / 1024
        for name, count in invocations.items()
    )
    return requests + seconds * PRICES["lambda_arm_gb_second"]


def bill(results: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(line, what is counted, dollars a month)."""
    template = Template.load()
    memory = {logical_id: spec.memory for logical_id, spec in template.functions().items()}
    scan = largest_scan(results)
    daily, gate = scan["daily_scan_nothing_new"], results["gate_check_128_purls"]
    by_purl = ORGANISATION["distinct_purls"] / scan["distinct_purls"]
    by_row = ORGANISATION["package_rows"] / scan["package_rows_over_3_feeds"]
    scans, checks = ORGANISATION["scans_a_month"], ORGANISATION["gate_checks_a_month"]

    scan_reads, scan_writes = units(daily, by_purl, by_purl)
    row_reads, row_writes = units(daily, 0.0, by_row)
    scan_reads, scan_writes = scan_reads + row_reads, scan_writes + row_writes
    gate_reads, gate_writes = units(gate, 1.0, 1.0)
    scan_invocations = worker_invocations(daily, by_purl, scans)
    gate_invocations = {name: count * checks for name, count in gate["lambda_invocations"].items()}
    stored_bytes = sum(
        table["bytes"] * (by_row if name in SCALED_BY_ROWS else by_purl) for name, table in scan["storage"].items()
    )
    stored_gb = stored_bytes / 1e9
    other = daily["other_aws_calls"]
    sqs_scan = sum(count for call, count in other.items() if call.startswith("sqs ")) * by_purl * scans
    secrets_calls = sum(count for call, count in other.items() if call.startswith("secretsmanager "))
    sqs_mappings = len(template.sqs_mappings())
    log_gb = (gate["log_bytes_per_check"] + PLATFORM_LOG_BYTES * sum(gate["lambda_invocations"].values())) * checks
    log_gb /= 1e9
    alarms = len(template.of_type("AWS::CloudWatch::Alarm"))
    secrets = len(template.secrets())
    return [
        (
            "DynamoDB reads, daily scans",
            f"{scan_reads:,.0f} read units a scan x {scans}",
            scan_reads * scans * PRICES["dynamodb_read_unit"],
        ),
        (
            "DynamoDB writes, daily scans",
            f"{scan_writes:,.0f} write units a scan x {scans}",
            scan_writes * scans * PRICES["dynamodb_write_unit"],
        ),
        (
            "DynamoDB reads, gate checks",
            f"{gate_reads:,.1f} read units a check x {checks:,}",
            gate_reads * checks * PRICES["dynamodb_read_unit"],
        ),
        (
            "DynamoDB writes, gate checks",
            f"{gate_writes:,.1f} write units a check x {checks:,}",
            gate_writes * checks * PRICES["dynamodb_write_unit"],
        ),
        (
            "DynamoDB storage and point-in-time recovery",
            f"{stored_gb:,.2f} GB (items and index entries, 100 B overhead each)",
            stored_gb * (PRICES["dynamodb_gb_month"] + PRICES["dynamodb_pitr_gb_month"]),
        ),
        (
            "Lambda, daily scans",
            f"{sum(scan_invocations.values()):,.0f} invocations",
            lambda_cost(scan_invocations, memory),
        ),
        (
            "Lambda, gate checks",
            f"{sum(gate_invocations.values()):,.0f} invocations (authorizer and gate)",
            lambda_cost(gate_invocations, memory),
        ),
        ("API Gateway (REST)", f"{checks:,} requests", checks * PRICES["apigateway_rest_request"]),
        (
            "SQS",
            f"{sqs_scan:,.0f} scan requests + {sqs_mappings} idle event source mappings' long polls",
            (sqs_scan + sqs_mappings * IDLE_RECEIVES_A_MONTH) * PRICES["sqs_request"],
        ),
        (
            "Secrets Manager",
            f"{secrets} secret(s) + a source token; {secrets_calls * by_purl * scans:,.0f} reads",
            (secrets + 1) * PRICES["secret_month"] + secrets_calls * by_purl * scans * PRICES["secrets_api_call"],
        ),
        (
            "CloudWatch Logs ingestion",
            f"{log_gb:,.2f} GB (gate checks' lines and metrics)",
            log_gb * PRICES["logs_gb_ingested"],
        ),
        ("X-Ray traces", f"{checks:,} checks, every one sampled at this rate", checks * PRICES["xray_trace"]),
        (
            "CloudWatch alarms and dashboard",
            f"{alarms} alarms, 1 dashboard",
            alarms * PRICES["alarm_month"] + PRICES["dashboard_month"],
        ),
        ("EventBridge", "no event: a scan with nothing new publishes none", 0.0),
    ]


def figures(results: dict[str, Any]) -> None:
    """The counts of each scan phase and of the gate check, as Markdown tables."""
    print(
        "| scan | N | OSS Index requests | Lambda invocations | DynamoDB calls | read units | write units"
        " | index write units | per purl: calls, read, write + index |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    scans = sorted((v for k, v in results.items() if k.startswith("scan_")), key=lambda v: v["distinct_purls"])
    for phase in ("import", "first_scan", "daily_scan_nothing_new"):
        for scan in scans:
            counts, n = scan[phase], scan["distinct_purls"]
            calls = sum(counts["dynamodb_calls"].values())
            done = counts["dynamodb_units"]
            read, write, index = done.get("read", 0), done.get("write", 0), done.get("index write", 0)
            print(
                f"| {phase.replace('_', ' ')} | {n:,} | {counts['ossindex_requests']:,} |"
                f" {sum(counts['lambda_invocations'].values()):,} | {calls:,} | {read:,.1f} | {write:,.0f} |"
                f" {index:,.0f} | {calls / n:.3f}, {read / n:.3f}, {(write + index) / n:.3f} |"
            )
    gate = results["gate_check_128_purls"]
    print("\n| gate check of 128 purls | |\n|---|---|")
    print(f"| Lambda invocations | {gate['lambda_invocations']} |")
    print(f"| DynamoDB calls | {gate['dynamodb_calls']} |")
    print(f"| read units by table | {gate['dynamodb_units_by_table']} |")
    print(f"| sequential round trips | {gate['sequential_dynamodb_round_trips']['sequential']} |")
    print(f"| log bytes | {gate['log_bytes_per_check']} |")
    for format_ in ("cyclonedx", "openvex"):
        vex = gate[f"vex_export_{format_}"]
        if "pages" not in vex:  # the emulator did not answer the export in this run
            print(f"| VEX {format_} | not measured: {vex.get('error')} |")
            continue
        print(
            f"| VEX {format_} | pages {[page['findings'] for page in vex['pages']]},"
            f" calls {vex['dynamodb_calls']}, units {vex['dynamodb_units']} |"
        )
    print()


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else newest_results()
    results = json.loads(path.read_text())
    figures(results)
    lines = bill(results)
    print(f"From {path.name}, for {ORGANISATION}:\n")
    print("| line | counted | $ a month |\n|---|---|---:|")
    for line, counted, dollars in lines:
        print(f"| {line} | {counted} | {dollars:,.2f} |")
    print(f"| **total** | | **{sum(d for _, _, d in lines):,.2f}** |")
    print(f"\nThe Lambda lines at three times DURATIONS_S: {slower_lambda(results):,.2f} $ a month.")
    return 0


def slower_lambda(results: dict[str, Any]) -> float:
    """Both Lambda lines again with every assumed duration tripled."""
    template = Template.load()
    memory = {logical_id: spec.memory for logical_id, spec in template.functions().items()}
    scan = largest_scan(results)
    by_purl = ORGANISATION["distinct_purls"] / scan["distinct_purls"]
    scans, checks = ORGANISATION["scans_a_month"], ORGANISATION["gate_checks_a_month"]
    invocations = worker_invocations(scan["daily_scan_nothing_new"], by_purl, scans)
    gate = {name: count * checks for name, count in results["gate_check_128_purls"]["lambda_invocations"].items()}
    return lambda_cost(invocations, memory, 3.0) + lambda_cost(gate, memory, 3.0)


if __name__ == "__main__":
    sys.exit(main())
