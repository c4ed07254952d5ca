"""Emptying S3 buckets before their stack is deleted (what the CDK's `autoDeleteObjects` does).

CloudFormation cannot delete a bucket that holds anything, and a versioned bucket holds every old
version and delete marker too. `destroy` empties the buckets the stack deletes (DeletionPolicy
Delete) from the CLI, so the templates need no custom resource for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.deploy.session import error_code
from infra.errors import DeployError, first_few

BATCH = 1000          # DeleteObjects takes at most 1000 keys per request
SHOWN_ERRORS = 3      # per-key failures named in the error


@dataclass
class Emptied:
    """What emptying one bucket removed (`exists` False: the bucket was already gone)."""

    bucket: str
    versions: int = 0
    delete_markers: int = 0
    exists: bool = True

    @property
    def removed(self) -> int:
        return self.versions + self.delete_markers

    def sentence(self) -> str:
        if not self.exists:
            return f"{self.bucket}: does not exist (already deleted); nothing to empty."
        if not self.removed:
            return f"{self.bucket}: already empty."
        return (f"{self.bucket}: emptied, {self.removed} object(s) removed ({self.versions} object "
                f"version(s), {self.delete_markers} delete marker(s)).")


def empty_bucket(s3: Any, bucket: str) -> Emptied:
    """Delete every object version and delete marker in `bucket` (ListObjectVersions, paginated;
    DeleteObjects in batches of 1000). A bucket that does not exist counts as empty."""
    from botocore.exceptions import ClientError

    done = Emptied(bucket)
    batch: list[dict[str, str]] = []
    kinds: list[str] = []

    def flush() -> None:
        if batch:
            delete_batch(s3, bucket, batch)
            done.versions += kinds.count("version")
            done.delete_markers += kinds.count("marker")
            batch.clear()
            kinds.clear()

    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for kind, items in (("version", page.get("Versions") or []),
                                ("marker", page.get("DeleteMarkers") or [])):
                for item in items:
                    ident = {"Key": item["Key"]}
                    if item.get("VersionId"):
                        ident["VersionId"] = item["VersionId"]
                    batch.append(ident)
                    kinds.append(kind)
                    if len(batch) == BATCH:
                        flush()
        flush()
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            done.exists = False
            return done
        raise
    return done


def delete_batch(s3: Any, bucket: str, objects: list[dict[str, str]]) -> None:
    """One DeleteObjects call (quiet); any per-key error is a DeployError naming the keys."""
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": list(objects), "Quiet": True})
    errors = answer.get("Errors") or []
    if not errors:
        return
    shown = first_few([
        f"{e.get('Key', '?')}"
        + (f" (version {e['VersionId']})" if e.get("VersionId") else "")
        + f": {e.get('Code', 'Error')}: {str(e.get('Message', '')).rstrip('.')}"
        for e in errors], SHOWN_ERRORS, "; ")
    raise DeployError(
        f"Could not empty the S3 bucket {bucket}: S3 refused to delete {len(errors)} of {len(objects)} "
        f"object version(s) in one batch: {shown}. Remove them yourself (object lock, a "
        "bucket policy or missing s3:DeleteObjectVersion permission usually cause this), then run "
        "destroy again.")
