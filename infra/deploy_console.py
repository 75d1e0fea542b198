"""make deploy-console: builds the console and publishes it to the deployed stack.

After `sam deploy`: reads the stack's outputs (ConsoleBucketName,
ConsoleDistributionId, ConsoleUrl), runs the console's build, uploads
console/dist with each file's Content-Type and Cache-Control, deletes the
files the new build no longer has, and invalidates index.html at the edge.

    python -m infra.deploy_console [--stack feedguard] [--region us-east-1] [--no-build]

The stack and region default to samconfig.toml's. It uses your own AWS
credentials (profile, environment or SSO), as `sam deploy` does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"
DIST = CONSOLE / "dist"
SAMCONFIG = ROOT / "samconfig.toml"

# Vite names every file under this prefix after a hash of its content: a name
# never changes meaning, so browsers and CloudFront may keep it for a year.
HASHED_PREFIX = "console/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything else (index.html above all) is revalidated on every load, so a
# deploy shows at once; its ETag makes that a 304 when nothing changed.
REVALIDATE = "no-cache"

# make dev's console server (infra/console_static.py) answers from these too.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
}
# After an upload, only the entry point can be stale at the edge: assets are new names.
INVALIDATED_PATHS = ["/", "/index.html"]


class DeployError(Exception):
    """What stops a deploy, said so a person can act on it."""


@dataclass(frozen=True)
class Target:
    bucket: str
    distribution_id: str
    url: str


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str
    content_type: str
    cache_control: str


def samconfig_defaults(path: Path = SAMCONFIG) -> tuple[str, str | None]:
    """(stack name, region) as `sam deploy` would use them."""
    config = tomllib.loads(path.read_text(encoding="utf-8"))["default"]
    stack = config["global"]["parameters"]["stack_name"]
    region = config.get("deploy", {}).get("parameters", {}).get("region")
    return str(stack), region


def stack_target(cloudformation: Any, stack: str) -> Target:
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    missing = {"ConsoleBucketName", "ConsoleDistributionId", "ConsoleUrl"} - outputs.keys()
    if missing:
        raise DeployError(f"stack {stack} has no output {', '.join(sorted(missing))}: sam build && sam deploy first")
    return Target(outputs["ConsoleBucketName"], outputs["ConsoleDistributionId"], outputs["ConsoleUrl"])


def plan(dist: Path) -> list[Upload]:
    """Every file of the build, hashed assets first and index.html last, so a
    new index.html never names an asset the bucket does not have yet."""
    if not (dist / "index.html").is_file():
        raise DeployError(f"{dist} has no index.html: build the console first (npm --prefix console run build)")
    uploads = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        key = path.relative_to(dist).as_posix()
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            raise DeployError(f"{key}: no Content-Type known for {path.suffix or 'a file without a suffix'}")
        cache_control = IMMUTABLE if key.startswith(HASHED_PREFIX) else REVALIDATE
        uploads.append(Upload(path, key, content_type, cache_control))
    return sorted(uploads, key=lambda upload: (upload.key == "index.html", not upload.key.startswith(HASHED_PREFIX)))


def upload(s3: Any, bucket: str, uploads: list[Upload]) -> None:
    for item in uploads:
        s3.put_object(
            Bucket=bucket,
            Key=item.key,
            Body=item.path.read_bytes(),
            ContentType=item.content_type,
            CacheControl=item.cache_control,
        )


def delete_stale(s3: Any, bucket: str, keep: set[str]) -> list[str]:
    """Deletes what the new build no longer has (earlier builds' assets). The
    bucket is versioned: a deleted file stays recoverable for 30 days."""
    stale = [
        entry["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for entry in page.get("Contents", [])
        if entry["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        chunk = stale[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
    return stale


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    batch = {
        "Paths": {"Quantity": len(INVALIDATED_PATHS), "Items": INVALIDATED_PATHS},
        "CallerReference": f"deploy-console-{time.time_ns()}",
    }
    invalidation = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)
    return str(invalidation["Invalidation"]["Id"])


def publish(session: Any, stack: str, dist: Path) -> tuple[Target, list[Upload], list[str]]:
    """Uploads a built dist to the stack's bucket; (where, what, what was deleted)."""
    target = stack_target(session.client("cloudformation"), stack)
    uploads = plan(dist)
    s3 = session.client("s3")
    upload(s3, target.bucket, uploads)
    deleted = delete_stale(s3, target.bucket, {item.key for item in uploads})
    invalidate(session.client("cloudfront"), target.distribution_id)
    return target, uploads, deleted


def build(console: Path = CONSOLE) -> None:
    for command in (["npm", "--prefix", str(console), "ci"], ["npm", "--prefix", str(console), "run", "build"]):
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)  # noqa: S603 - fixed commands, no shell


def main(argv: list[str] | None = None) -> int:
    default_stack, default_region = samconfig_defaults()
    parser = argparse.ArgumentParser(prog="make deploy-console", description="Publishes console/dist to the stack.")
    parser.add_argument("--stack", default=default_stack, help=f"stack name (samconfig.toml: {default_stack})")
    parser.add_argument("--region", default=default_region, help=f"AWS region (samconfig.toml: {default_region})")
    parser.add_argument("--no-build", action="store_true", help="upload console/dist as it is")
    args = parser.parse_args(argv)
    try:
        if not args.no_build:
            build()
        target, uploads, deleted = publish(boto3.session.Session(region_name=args.region), args.stack, DIST)
    except (DeployError, subprocess.CalledProcessError, BotoCoreError, ClientError) as error:
        print(f"deploy-console: {error}", file=sys.stderr)
        return 1
    print(f"uploaded {len(uploads)} files to s3://{target.bucket}, deleted {len(deleted)} stale ones")
    print(f"invalidated {', '.join(INVALIDATED_PATHS)} on {target.distribution_id}")
    print(f"the console: {target.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
