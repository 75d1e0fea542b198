"""make deploy-console against moto: a deployed stack's outputs, its bucket
and its distribution, and a built console in a temporary directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import deploy_console
from infra.deploy_console import IMMUTABLE, REVALIDATE, DeployError, plan, publish

STACK = "feedguard-console-test"
BUNDLE = {
    "index.html": b'<!doctype html><script type="module" src="/console/assets/index-B4x9.js"></script>',
    "console/assets/index-B4x9.js": b"console.log('feedguard')",
    "console/assets/index-Qm2c.css": b"body{margin:0}",
    "console/assets/logo-7fKa.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "robots.txt": b"User-agent: *\nDisallow: /\n",
}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for key, body in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


@pytest.fixture
def deployed() -> Iterator[tuple[Any, str, str]]:
    """(session, bucket, distribution id) of a stack with the template's console outputs."""
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        distribution = session.client("cloudfront").create_distribution(
            DistributionConfig={
                "CallerReference": "console",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "ConsoleBucket",
                            "DomainName": "console.s3.us-east-1.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "ConsoleBucket",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )["Distribution"]
        template = {
            "Resources": {"ConsoleBucket": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {
                "ConsoleUrl": {"Value": f"https://{distribution['DomainName']}/"},
                "ConsoleBucketName": {"Value": {"Ref": "ConsoleBucket"}},
                "ConsoleDistributionId": {"Value": distribution["Id"]},
            },
        }
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
        outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
        bucket = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ConsoleBucketName")
        yield session, bucket, distribution["Id"]


def test_a_deploy_uploads_every_file_with_its_type_and_caching(deployed: Any, tmp_path: Path) -> None:
    # Given the stack's bucket and a built console
    session, bucket, _ = deployed
    dist = _write(tmp_path, BUNDLE)
    # When it is published
    publish(session, STACK, dist)
    # Then every file is in the bucket under its path, as the browser must read it
    s3 = session.client("s3")
    heads = {key: s3.head_object(Bucket=bucket, Key=key) for key in BUNDLE}
    assert {key: head["ContentType"] for key, head in heads.items()} == {
        "index.html": "text/html; charset=utf-8",
        "console/assets/index-B4x9.js": "text/javascript; charset=utf-8",
        "console/assets/index-Qm2c.css": "text/css; charset=utf-8",
        "console/assets/logo-7fKa.svg": "image/svg+xml",
        "robots.txt": "text/plain; charset=utf-8",
    }
    # And the hashed assets are kept for a year, everything else revalidated
    assert {key: head["CacheControl"] for key, head in heads.items()} == {
        "index.html": REVALIDATE,
        "console/assets/index-B4x9.js": IMMUTABLE,
        "console/assets/index-Qm2c.css": IMMUTABLE,
        "console/assets/logo-7fKa.svg": IMMUTABLE,
        "robots.txt": REVALIDATE,
    }
    assert REVALIDATE == "no-cache"
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert s3.get_object(Bucket=bucket, Key="index.html")["Body"].read() == BUNDLE["index.html"]


def test_a_deploy_deletes_what_the_new_build_no_longer_has(deployed: Any, tmp_path: Path) -> None:
    # Given a bucket holding an earlier build
    session, bucket, _ = deployed
    s3 = session.client("s3")
    for key in ("index.html", "console/assets/index-Old1.js", "console/assets/index-Old1.css"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"old")
    # When the new build is published
    _, _, deleted = publish(session, STACK, _write(tmp_path, BUNDLE))
    # Then the bucket holds exactly the new build
    listed = {entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == set(BUNDLE)
    assert sorted(deleted) == ["console/assets/index-Old1.css", "console/assets/index-Old1.js"]


def test_a_deploy_invalidates_the_entry_point_at_the_edge(deployed: Any, tmp_path: Path) -> None:
    session, _, distribution_id = deployed
    publish(session, STACK, _write(tmp_path, BUNDLE))
    cloudfront = session.client("cloudfront")
    (summary,) = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]["Items"]
    invalidation = cloudfront.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])["Invalidation"]
    assert sorted(invalidation["InvalidationBatch"]["Paths"]["Items"]) == ["/", "/index.html"]


def test_index_html_is_uploaded_after_every_asset_it_may_name(tmp_path: Path) -> None:
    keys = [upload.key for upload in plan(_write(tmp_path, BUNDLE))]
    assert keys[-1] == "index.html"
    assert all(key.startswith("console/assets/") for key in keys[:3])


def test_a_file_of_unknown_type_stops_the_deploy_before_anything_is_uploaded(tmp_path: Path) -> None:
    dist = _write(tmp_path, {**BUNDLE, "console/assets/data-Zz1.bin": b"\0"})
    with pytest.raises(DeployError, match=r"data-Zz1\.bin: no Content-Type"):
        plan(dist)


def test_a_dist_without_index_html_is_not_a_build(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"no index\.html"):
        plan(_write(tmp_path, {"console/assets/index-B4x9.js": b""}))


def test_a_stack_without_the_console_outputs_says_to_deploy_first(deployed: Any, tmp_path: Path) -> None:
    session, _, _ = deployed
    session.client("cloudformation").create_stack(
        StackName="older", TemplateBody=json.dumps({"Resources": {"Other": {"Type": "AWS::S3::Bucket"}}})
    )
    with pytest.raises(DeployError, match="no output ConsoleBucketName, ConsoleDistributionId, ConsoleUrl"):
        publish(session, "older", _write(tmp_path, BUNDLE))


def test_an_unknown_stack_is_a_clear_error_not_a_traceback(deployed: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_console.main(["--no-build", "--stack", "no-such-stack"]) == 1
    assert "no-such-stack" in capsys.readouterr().err


def test_stack_and_region_default_to_samconfigs() -> None:
    assert deploy_console.samconfig_defaults() == ("feedguard", "us-east-1")
