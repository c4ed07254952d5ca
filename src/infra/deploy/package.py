"""Package a generated stage for CloudFormation: assets and templates to S3, by content hash.

- Handler zips go under the keys the templates already reference (`assets/<sha256>.zip`).
- Each child template goes to `templates/<sha256 of its bytes>.json`; the root's `TemplateURL`s
  (local file names, so cfn-lint can follow them) are rewritten to those HTTPS URLs.
- The rewritten, console-ready root is written to `<stage dir>/packaged/root.json` and uploaded
  (`templates/<sha256>.json`) too; its URL feeds a console quick-create link.
- Objects already in the bucket are not uploaded again: same key, same bytes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from infra import digest
from infra.deploy.manifest import Build
from infra.deploy.session import Aws, error_code
from infra.errors import DeployError
from infra.render import compact_json, replace_file
from infra.resource_types import NESTED_STACK

PACKAGED_DIR = "packaged"
NESTED_STACK_TYPE = NESTED_STACK


@dataclass
class Packaged:
    bucket: str
    region: str
    root_file: Path
    root_key: str
    root_url: str
    root_template: dict[str, Any]
    child_urls: dict[str, str]
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def s3_url(bucket: str, region: str, key: str, suffix: str = "amazonaws.com") -> str:
    """Virtual-hosted HTTPS URL of an object, the form CloudFormation's TemplateURL takes."""
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def sha256(data: bytes) -> str:
    return digest.sha256(data).hexdigest()


def template_bytes(template: dict[str, Any]) -> bytes:
    return (json.dumps(template, indent=2) + "\n").encode()


def check_bucket(s3: Any, bucket: str, region: str) -> None:
    """The bucket exists, is reachable, and is in the stack's region (Lambda requires it)."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"Artifact bucket '{bucket}' does not exist; create it, pass another "
                              "--bucket, or omit --bucket to use the bootstrap bucket.") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployError(f"No access to artifact bucket '{bucket}' (it may belong to another "
                              "account); pass a bucket of this account with --bucket.") from None
        raise
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    location = {"EU": "eu-west-1"}.get(location, location)
    if location != region:
        raise DeployError(f"Artifact bucket '{bucket}' is in {location}, but the stack deploys to "
                          f"{region}; Lambda code and templates must be in a bucket of {region}.")


def exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def upload(s3: Any, bucket: str, key: str, data: bytes | Path, content_type: str, result: Packaged) -> None:
    """Put `data` (bytes, or a file read only when needed) under `key` unless the key exists."""
    if exists(s3, bucket, key):
        result.skipped.append(key)
        return
    s3.put_object(Bucket=bucket, Key=key, Body=data.read_bytes() if isinstance(data, Path) else data,
                  ContentType=content_type)
    result.uploaded.append(key)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` (creating its folder) so that readers see the old bytes or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data)


def packaged_root(build: Build, child_urls: dict[str, str]) -> dict[str, Any]:
    """root.json with every child TemplateURL pointing at its uploaded copy."""
    root = build.template(build.root_template)
    resources = root.get("Resources", {})
    for lid, url in child_urls.items():
        res = resources.get(lid)
        if not res or res.get("Type") != NESTED_STACK_TYPE:
            raise DeployError(f"{build.directory / 'manifest.json'}: template '{lid}' is not a nested "
                              f"stack of {build.root_template.name}; regenerate the templates.")
        res.setdefault("Properties", {})["TemplateURL"] = url
    for lid, res in resources.items():
        if res.get("Type") == NESTED_STACK_TYPE and lid not in child_urls:
            url = res.get("Properties", {}).get("TemplateURL", "")
            if isinstance(url, str) and not url.startswith("https://"):
                raise DeployError(f"{build.root_template}: nested stack '{lid}' points at '{url}', "
                                  "which the manifest does not list; regenerate the templates.")
    return root


def package(build: Build, aws: Aws, bucket: str, *, assets: bool = True) -> Packaged:
    """Upload what `build` needs to `bucket` and write the console-ready root template.

    `assets=False` (diff): templates only; a change set reads templates, never the handler code.
    """
    s3 = aws.client("s3")
    check_bucket(s3, bucket, aws.region)
    url = lambda key: s3_url(bucket, aws.region, key, aws.partition_suffix)  # noqa: E731
    result = Packaged(bucket, aws.region, Path(), "", "", {}, {})
    for asset in build.assets if assets else ():
        # Keys are content hashes: a zip already there (an unchanged function) is never read or sent.
        upload(s3, bucket, asset.key, asset.file, "application/zip", result)
    for lid, path in sorted(build.templates.items()):
        # Uploaded without whitespace: CloudFormation's 1 MB template quota counts these bytes,
        # and the generator's quota check measures exactly this form.
        data = compact_json(json.loads(path.read_bytes()))
        key = f"templates/{sha256(data)}.json"
        upload(s3, bucket, key, data, "application/json", result)
        result.child_urls[lid] = url(key)
    root = packaged_root(build, result.child_urls)
    data = template_bytes(root)
    result.root_template = root
    result.root_key = f"templates/{sha256(data)}.json"
    result.root_url = url(result.root_key)
    result.root_file = build.directory / PACKAGED_DIR / build.root_template.name
    write_atomic(result.root_file, data)
    upload(s3, bucket, result.root_key, data, "application/json", result)
    return result


def upload_template(aws: Aws, bucket: str, template: dict[str, Any]) -> str:
    """Upload a template (import, refactor) under its content hash; its URL."""
    body = (json.dumps(template, indent=2, sort_keys=True) + "\n").encode()
    key = f"templates/{sha256(body)}.json"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_url(bucket, aws.region, key, aws.partition_suffix)


def upload_file(aws: Aws, bucket: str, path: Path) -> str:
    """Upload a generated template file as it is, under its content hash; its URL."""
    data = path.read_bytes()
    key = f"templates/{sha256(data)}.json"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    return s3_url(bucket, aws.region, key, aws.partition_suffix)


def console_domain(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com"


def quick_create_link(region: str, stack_name: str, template_url: str, parameters: dict[str, str]) -> str:
    """CloudFormation console link that opens "Quick create stack" with everything filled in."""
    query = [("templateURL", template_url), ("stackName", stack_name)]
    query += [(f"param_{k}", v) for k, v in sorted(parameters.items())]
    fragment = "/stacks/quickcreate?" + urlencode(query, quote_via=quote, safe="")
    return f"https://{console_domain(region)}/cloudformation/home?region={region}#{fragment}"
