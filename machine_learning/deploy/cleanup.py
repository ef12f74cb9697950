"""Find and delete AWS resources of one deployment by its tags, outside Terraform.

``make destroy`` removes what Terraform created. This command finds what is left over or was created by hand
(buckets, ECR repositories, ECS services and clusters, load balancers, log groups, secrets) by the tags every
resource of a deployment carries (``Project``, ``GameTitle``, ``Environment``), through the Resource Groups
Tagging API plus ECR's own listing. ``--dry-run`` only lists; otherwise it asks to type the environment name
(``--yes`` for automation), writes a JSON backup of what it is about to delete, and then deletes.

Usage: python -m machine_learning.deploy.cleanup --game-title demo-game --environment dev [--dry-run | --yes]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ClientFactory = Callable[[str], Any]  # service name -> boto3 client

# (service, kind) in deletion order: dependants before what they depend on.
DELETION_ORDER: tuple[tuple[str, str], ...] = (
    ("ecs", "service"),
    ("ecs", "task-definition"),
    ("ecs", "cluster"),
    ("elasticloadbalancing", "loadbalancer"),
    ("elasticloadbalancing", "targetgroup"),
    ("logs", "log-group"),
    ("secretsmanager", "secret"),
    ("ecr", "repository"),
    ("s3", "bucket"),
)


@dataclass(frozen=True)
class TagScope:
    """The tags that identify one deployment (terraform/locals.tf sets them on every resource)."""

    project: str
    game_title: str
    environment: str

    def as_tags(self) -> dict[str, str]:
        """Return the tag keys and values a resource must carry to be in scope."""
        return {"Project": self.project, "GameTitle": self.game_title, "Environment": self.environment}

    def matches(self, tags: dict[str, str]) -> bool:
        """Return whether ``tags`` carry every tag of the scope."""
        return all(tags.get(key) == value for key, value in self.as_tags().items())


@dataclass(frozen=True)
class Resource:
    """One tagged resource, identified by its ARN."""

    arn: str
    service: str
    kind: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        """Whether this command knows how to delete the resource."""
        return (self.service, self.kind) in DELETION_ORDER


@dataclass(frozen=True)
class CleanupReport:
    """What a cleanup deleted, skipped (with the reason) and failed to delete (with the error)."""

    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def parse_arn(arn: str, tags: dict[str, str] | None = None) -> Resource:
    """Split an ARN into service, resource kind and name.

    Args:
        arn: ``arn:<partition>:<service>:<region>:<account>:<resource>``.
        tags: The resource's tags.

    Returns:
        The resource; kinds this command cannot delete keep their ARN's type so they can be listed.

    """
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5] if len(parts) == 6 else ""
    if service == "s3":
        kind, name = "bucket", resource
    elif service in ("logs", "secretsmanager"):
        kind, _, name = resource.partition(":")
        name = name.removesuffix(":*")
    else:
        kind, _, name = resource.partition("/")
        if service == "elasticloadbalancing" and kind == "loadbalancer":
            name = name.split("/", 1)[1] if name.startswith(("app/", "net/", "gwy/")) else name
    return Resource(arn=arn, service=service, kind=kind, name=name, tags=dict(tags or {}))


def find_resources(client_for: ClientFactory, scope: TagScope) -> list[Resource]:
    """Find every resource tagged with the scope's tags, in deletion order (unsupported kinds last).

    Args:
        client_for: Returns a boto3 client for a service name.
        scope: The deployment's tags.

    Returns:
        The resources, each once.

    """
    found: dict[str, Resource] = {}
    for resource in [*_tagging_api_resources(client_for, scope), *_ecr_repositories(client_for, scope)]:
        if _still_exists(client_for, resource):
            found.setdefault(resource.arn, resource)
    rank = {key: index for index, key in enumerate(DELETION_ORDER)}
    return sorted(found.values(), key=lambda r: (rank.get((r.service, r.kind), len(rank)), r.arn))


def _tagging_api_resources(client_for: ClientFactory, scope: TagScope) -> Iterator[Resource]:
    filters = [{"Key": key, "Values": [value]} for key, value in scope.as_tags().items()]
    paginator = client_for("resourcegroupstaggingapi").get_paginator("get_resources")
    for page in paginator.paginate(TagFilters=filters):
        for mapping in page.get("ResourceTagMappingList", []):
            tags = {tag["Key"]: tag["Value"] for tag in mapping.get("Tags", [])}
            if scope.matches(tags):  # the API already filters; re-check rather than trust every implementation
                yield parse_arn(mapping["ResourceARN"], tags)


def _still_exists(client_for: ClientFactory, resource: Resource) -> bool:
    """Leave out what is already deleted but still listed: inactive ECS clusters, secrets pending deletion."""
    if (resource.service, resource.kind) == ("ecs", "cluster"):
        clusters = client_for("ecs").describe_clusters(clusters=[resource.arn]).get("clusters", [])
        return bool(clusters) and clusters[0].get("status") != "INACTIVE"
    if (resource.service, resource.kind) == ("secretsmanager", "secret"):
        return "DeletedDate" not in client_for("secretsmanager").describe_secret(SecretId=resource.arn)
    return True


def _ecr_repositories(client_for: ClientFactory, scope: TagScope) -> Iterator[Resource]:
    # The tagging API does not cover ECR everywhere: list repositories and read their tags directly.
    ecr = client_for("ecr")
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repository in page.get("repositories", []):
            arn = repository["repositoryArn"]
            tags = {tag["Key"]: tag["Value"] for tag in ecr.list_tags_for_resource(resourceArn=arn).get("tags", [])}
            if scope.matches(tags):
                yield Resource(arn=arn, service="ecr", kind="repository", name=repository["repositoryName"], tags=tags)


def write_backup(resources: Sequence[Resource], scope: TagScope, directory: Path) -> Path:
    """Write the list of resources about to be deleted (ARNs, kinds, names, tags; never secret values).

    Args:
        resources: What will be deleted.
        scope: The deployment's tags.
        directory: Folder of the backup file (created if missing).

    Returns:
        The path of the JSON file.

    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"cleanup-{scope.game_title}-{scope.environment}-{stamp}.json"
    payload = {
        "created_at": datetime.now(UTC).isoformat(),
        "scope": scope.as_tags(),
        "resources": [asdict(resource) for resource in resources],
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def delete_resources(
    client_for: ClientFactory, resources: Sequence[Resource], delete_bucket_contents: bool = False
) -> CleanupReport:
    """Delete the resources in the given order; one failure does not stop the others.

    Args:
        client_for: Returns a boto3 client for a service name.
        resources: What to delete, as returned by ``find_resources``.
        delete_bucket_contents: Empty non-empty buckets (every object version) before deleting them; without it
            such buckets are skipped, so data is never deleted by surprise.

    Returns:
        What was deleted, skipped and failed.

    """
    report = CleanupReport()
    for resource in resources:
        if not resource.supported:
            report.skipped[resource.arn] = f"{resource.service}/{resource.kind}: not handled here, delete it yourself"
            continue
        try:
            reason = _delete_one(client_for, resource, delete_bucket_contents)
        except Exception as error:  # noqa: BLE001 - report every failure and go on with the rest
            report.failed[resource.arn] = f"{type(error).__name__}: {error}"
            continue
        if reason:
            report.skipped[resource.arn] = reason
        else:
            report.deleted.append(resource.arn)
    return report


def _delete_one(client_for: ClientFactory, resource: Resource, delete_bucket_contents: bool) -> str | None:
    """Delete one resource; return a reason when it was deliberately left in place."""
    kind = (resource.service, resource.kind)
    if kind == ("ecs", "service"):
        cluster, _, service = resource.name.partition("/")
        ecs = client_for("ecs")
        ecs.update_service(cluster=cluster, service=service, desiredCount=0)
        ecs.delete_service(cluster=cluster, service=service, force=True)
    elif kind == ("ecs", "task-definition"):
        client_for("ecs").deregister_task_definition(taskDefinition=resource.arn)
    elif kind == ("ecs", "cluster"):
        client_for("ecs").delete_cluster(cluster=resource.arn)
    elif kind == ("elasticloadbalancing", "loadbalancer"):
        client_for("elbv2").delete_load_balancer(LoadBalancerArn=resource.arn)
    elif kind == ("elasticloadbalancing", "targetgroup"):
        client_for("elbv2").delete_target_group(TargetGroupArn=resource.arn)
    elif kind == ("logs", "log-group"):
        client_for("logs").delete_log_group(logGroupName=resource.name)
    elif kind == ("secretsmanager", "secret"):
        # Recoverable for 7 days (restore-secret), like Terraform's recovery window.
        client_for("secretsmanager").delete_secret(SecretId=resource.arn, RecoveryWindowInDays=7)
    elif kind == ("ecr", "repository"):
        client_for("ecr").delete_repository(repositoryName=resource.name, force=True)
    elif kind == ("s3", "bucket"):
        return _delete_bucket(client_for("s3"), resource.name, delete_bucket_contents)
    return None


def _delete_bucket(s3: Any, bucket: str, delete_contents: bool) -> str | None:
    versions = s3.get_paginator("list_object_versions")
    pages = list(versions.paginate(Bucket=bucket))
    keys = [
        {"Key": item["Key"], "VersionId": item["VersionId"]}
        for page in pages
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    ]
    if keys and not delete_contents:
        return f"bucket holds {len(keys)} object version(s); rerun with --delete-bucket-contents to delete them"
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    return None


def confirm(scope: TagScope, count: int, read: Callable[[str], str] | None = None) -> bool:
    """Ask the user to type the environment name; anything else (or no terminal) cancels.

    Args:
        scope: The deployment being cleaned up.
        count: How many resources would be deleted.
        read: Reads one answer (default: ``input``, looked up at call time).

    Returns:
        Whether the user confirmed.

    """
    prompt = f"Delete {count} resource(s) of {scope.game_title}/{scope.environment}? Type '{scope.environment}': "
    try:
        return (read or input)(prompt).strip() == scope.environment
    except EOFError:
        return False


def _print_resources(resources: Sequence[Resource]) -> None:
    for resource in resources:
        note = "" if resource.supported else "   (not handled here: delete it yourself)"
        print(f"  {resource.service + '/' + resource.kind:<36} {resource.name}{note}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m machine_learning.deploy.cleanup", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--project", default="engagement-mlops", help="Project tag (default: %(default)s)")
    parser.add_argument("--game-title", required=True, help="GameTitle tag, e.g. demo-game")
    parser.add_argument("--environment", required=True, help="Environment tag, e.g. dev")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (automation)")
    parser.add_argument("--delete-bucket-contents", action="store_true", help="empty non-empty buckets first")
    parser.add_argument("--backup-dir", type=Path, default=Path("."), help="folder of the JSON backup (default: .)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, client_for: ClientFactory | None = None) -> int:
    """Run the cleanup command.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
        client_for: Returns a boto3 client for a service name (default: a boto3 session in ``--region``).

    Returns:
        0 on success or nothing to do, 1 when the user cancelled or a deletion failed, 2 on an AWS error.

    """
    args = _parse_args(argv)
    scope = TagScope(project=args.project, game_title=args.game_title, environment=args.environment)
    if client_for is None:
        import boto3

        client_for = boto3.session.Session(region_name=args.region).client
    try:
        resources = find_resources(client_for, scope)
    except Exception as error:  # noqa: BLE001 - botocore errors (credentials, permissions) as one line
        print(
            f"error: cannot list resources ({type(error).__name__}: {error}); check AWS credentials and region",
            file=sys.stderr,
        )
        return 2
    print(f"{len(resources)} resource(s) tagged {scope.as_tags()}:")
    _print_resources(resources)
    if not resources or args.dry_run:
        return 0
    if not args.yes and not confirm(scope, len(resources)):
        print("cancelled: nothing deleted")
        return 1
    backup = write_backup(resources, scope, args.backup_dir)
    print(f"backup of the list: {backup}")
    report = delete_resources(client_for, resources, delete_bucket_contents=args.delete_bucket_contents)
    print(f"deleted {len(report.deleted)}, skipped {len(report.skipped)}, failed {len(report.failed)}")
    for arn, reason in {**report.skipped, **report.failed}.items():
        print(f"  {arn}: {reason}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
