"""Provisions everything the platform needs on moto, idempotently, from the same definitions as CDK.

Tables come from ``tradeops.store.tables`` (via ``tradeops.store.provision``), routing from
``tradeops.routes``. Locally every function target gets an SQS queue (``fn-<name>``) with a DLQ in front
of it, because moto's EventBridge delivers to SQS but not to Lambda; the function runner drains them.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tradeops.config import Settings
from tradeops.domain.roles import ROLES
from tradeops.routes import FUNCTIONS, QUEUES, RULES, FunctionSpec, QueueSpec, RuleSpec
from tradeops.store.tables import ACCOUNTS, TABLES, TableSpec

WORM_RETENTION_DAYS = 2555
DEMO_DOMAIN = "tradeops.example"
DEMO_USERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("viewer", ("viewer",)),
    ("trader", ("trader",)),
    ("risk", ("risk",)),
    ("risk2", ("risk",)),
    ("admin", ("admin",)),
    ("auditor", ("auditor",)),
)
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class CognitoResources:
    user_pool_id: str
    client_id: str
    jwks_url: str
    issuer: str


@dataclass(frozen=True)
class ProvisionedResources:
    """What ``provision`` created or found, by logical name where one exists."""

    account_id: str
    bus_name: str
    bus_arn: str
    tables: dict[str, str]
    buckets: dict[str, str]
    queues: dict[str, str] = field(default_factory=dict)
    """Logical queue name (``intents``, ``fn-alerts``, ``intents-dlq``...) -> queue URL."""
    rules: dict[str, str] = field(default_factory=dict)
    """Rule name -> ARN of its SQS target."""
    secret_id: str = ""
    secret_arn: str = ""
    alarm_topic_arn: str = ""
    cognito: CognitoResources | None = None
    demo_users: tuple[DemoUser, ...] = ()


def function_queues(functions: Iterable[FunctionSpec]) -> tuple[QueueSpec, ...]:
    """The queue in front of each function; visibility 6x the timeout, as AWS advises for Lambda on SQS."""
    return tuple(
        QueueSpec(f.queue_name, visibility_timeout_s=6 * f.timeout_s, doc=f"Local target of {f.name}")
        for f in functions
    )


def random_password() -> str:
    """A password meeting Cognito's default policy (upper, lower, digit, symbol, length >= 8)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(16)) + "-Aa1"


def provision(
    settings: Settings,
    *,
    tables: Sequence[TableSpec] = TABLES,
    functions: Sequence[FunctionSpec] = FUNCTIONS,
    queues: Sequence[QueueSpec] = QUEUES,
    rules: Sequence[RuleSpec] = RULES,
    worm_retention_days: int = WORM_RETENTION_DAYS,
    demo_password: str | None = None,
    exchange_key: Mapping[str, str] | None = None,
) -> ProvisionedResources:
    """Create (or find) every resource on ``settings.aws_endpoint_url``; safe to call again."""
    from tradeops.aws.clients import client
    from tradeops.store.provision import create_tables

    if settings.aws_endpoint_url is None:
        raise ValueError("provision() targets the embedded stack: settings.aws_endpoint_url must be set")
    create_tables(settings, specs=tables)
    account_id: str = client("sts", settings).get_caller_identity()["Account"]
    _bucket(settings, settings.worm_bucket, worm_retention_days=worm_retention_days)
    _bucket(settings, settings.reports_bucket, worm_retention_days=None)
    bus_arn = _event_bus(settings)
    queue_urls, queue_arns = _queues(settings, (*queues, *function_queues(functions)))
    rule_targets = _rules(settings, rules, queue_urls, queue_arns, functions)
    secret_arn = _secret(settings, exchange_key)
    topic_arn: str = client("sns", settings).create_topic(Name=settings.alarm_topic_name)["TopicArn"]
    cognito, users = _cognito(settings, demo_password)
    if ACCOUNTS in tables:
        _demo_account(settings)
    return ProvisionedResources(
        account_id=account_id,
        bus_name=settings.bus_name,
        bus_arn=bus_arn,
        tables={t.name: settings.table_name(t) for t in tables},
        buckets={"worm": settings.worm_bucket, "reports": settings.reports_bucket},
        queues=queue_urls,
        rules=rule_targets,
        secret_id=settings.exchange_secret_id,
        secret_arn=secret_arn,
        alarm_topic_arn=topic_arn,
        cognito=cognito,
        demo_users=users,
    )


def _demo_account(settings: Settings) -> None:
    """The embedded stack's trading account, KYC-verified for a year (in AWS an operator registers it)."""
    from tradeops.domain.kyc import KycRecord, KycStatus
    from tradeops.store.accounts import AccountStore

    store = AccountStore(settings)
    if store.get(settings.account) is None:
        expires = datetime.now(UTC).date() + timedelta(days=365)
        record = KycRecord(settings.account, KycStatus.VERIFIED, expires, "tradeops-up (demo)", 0)
        store.put(record, expected_version=None)


def _exists(call: Any, *codes: str) -> bool:
    """Run ``call``; True if it failed with one of ``codes`` (the resource already exists)."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in codes:
            return True
        raise
    return False


def _bucket(settings: Settings, name: str, *, worm_retention_days: int | None) -> None:
    from tradeops.aws.clients import client

    s3 = client("s3", settings)
    kwargs: dict[str, Any] = {"Bucket": name}
    if settings.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    if worm_retention_days is not None:
        kwargs["ObjectLockEnabledForBucket"] = True
    _exists(lambda: s3.create_bucket(**kwargs), "BucketAlreadyOwnedByYou")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    if worm_retention_days is not None:
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": worm_retention_days}},
            },
        )


def _event_bus(settings: Settings) -> str:
    from tradeops.aws.clients import client

    events = client("events", settings)
    _exists(lambda: events.create_event_bus(Name=settings.bus_name), "ResourceAlreadyExistsException")
    arn: str = events.describe_event_bus(Name=settings.bus_name)["Arn"]
    return arn


def _queues(settings: Settings, specs: Iterable[QueueSpec]) -> tuple[dict[str, str], dict[str, str]]:
    """Each queue and its DLQ; returns (logical -> URL, logical -> ARN)."""
    from tradeops.aws.clients import client

    sqs = client("sqs", settings)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}

    def create(logical: str, attributes: dict[str, str]) -> None:
        name = settings.queue_name(logical) + (".fifo" if attributes.get("FifoQueue") == "true" else "")
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        urls[logical] = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        arns[logical] = arn

    for spec in specs:
        fifo = {"FifoQueue": "true"} if spec.fifo else {}
        create(spec.dlq_name, {**fifo, "MessageRetentionPeriod": str(14 * 86400)})
        redrive = {"deadLetterTargetArn": arns[spec.dlq_name], "maxReceiveCount": spec.max_receive_count}
        create(
            spec.name,
            {
                **fifo,
                "VisibilityTimeout": str(spec.visibility_timeout_s),
                "MessageRetentionPeriod": str(spec.retention_days * 86400),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
    return urls, arns


def _rules(
    settings: Settings,
    rules: Iterable[RuleSpec],
    queue_urls: dict[str, str],
    queue_arns: dict[str, str],
    functions: Sequence[FunctionSpec],
) -> dict[str, str]:
    """Every rule on the bus with its single SQS target, and a queue policy letting the rule send."""
    from tradeops.aws.clients import client

    events = client("events", settings)
    sqs = client("sqs", settings)
    by_name = {f.name: f for f in functions}
    senders: dict[str, list[str]] = {}
    targets: dict[str, str] = {}
    for rule in rules:
        logical = by_name[rule.function].queue_name if rule.function else str(rule.queue)
        rule_arn: str = events.put_rule(
            Name=rule.name,
            EventBusName=settings.bus_name,
            EventPattern=json.dumps(rule.pattern),
            State="ENABLED",
            Description=rule.doc[:512],
        )["RuleArn"]
        target_id = (rule.function or str(rule.queue))[:64]
        events.put_targets(
            Rule=rule.name,
            EventBusName=settings.bus_name,
            Targets=[{"Id": target_id, "Arn": queue_arns[logical]}],
        )
        targets[rule.name] = queue_arns[logical]
        senders.setdefault(logical, []).append(rule_arn)
    for logical, rule_arns in senders.items():
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowEventBridgeRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arns[logical],
                    "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_urls[logical], Attributes={"Policy": json.dumps(policy)})
    return targets


def random_exchange_key() -> dict[str, str]:
    """A fresh ``{"apiKey", "secret"}`` pair (the simulator accepts any key it is told about)."""
    return {
        "apiKey": "".join(secrets.choice(_ALNUM) for _ in range(64)),
        "secret": "".join(secrets.choice(_ALNUM) for _ in range(64)),
    }


def _secret(settings: Settings, exchange_key: Mapping[str, str] | None) -> str:
    """The exchange-key secret; an existing secret is kept (its keys may have been rotated)."""
    from tradeops.aws.clients import client

    sm = client("secretsmanager", settings)
    value = dict(exchange_key) if exchange_key is not None else random_exchange_key()
    sid = settings.exchange_secret_id
    _exists(lambda: sm.create_secret(Name=sid, SecretString=json.dumps(value)), "ResourceExistsException")
    arn: str = sm.describe_secret(SecretId=sid)["ARN"]
    return arn


def _cognito(settings: Settings, demo_password: str | None) -> tuple[CognitoResources, tuple[DemoUser, ...]]:
    """The operator user pool, its app client, the five role groups and the demo users."""
    from tradeops.aws.clients import client

    idp = client("cognito-idp", settings)
    pool_name = f"{settings.bus_name}-operators"
    pools = idp.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p["Name"] == pool_name), None)
    if pool_id is None:
        pool_id = idp.create_user_pool(
            PoolName=pool_name,
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireUppercase": True,
                    "RequireLowercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                }
            },
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        )["UserPool"]["Id"]
    client_name = f"{settings.bus_name}-ui"
    clients = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == client_name), None)
    if client_id is None:
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=client_name,
            GenerateSecret=False,
            ExplicitAuthFlows=[
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
        )["UserPoolClient"]["ClientId"]
    for role in ROLES:
        _exists(
            lambda role=role: idp.create_group(UserPoolId=pool_id, GroupName=role), "GroupExistsException"
        )
    users: list[DemoUser] = []
    for name, groups in DEMO_USERS:
        user = DemoUser(f"{name}@{DEMO_DOMAIN}", demo_password or random_password(), groups)
        attributes = [{"Name": "email", "Value": user.username}, {"Name": "email_verified", "Value": "true"}]
        _exists(
            lambda u=user, a=attributes: idp.admin_create_user(
                UserPoolId=pool_id, Username=u.username, UserAttributes=a, MessageAction="SUPPRESS"
            ),
            "UsernameExistsException",
        )
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
        )
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user.username, GroupName=group)
        users.append(user)
    cognito = CognitoResources(
        user_pool_id=pool_id,
        client_id=client_id,
        jwks_url=f"{settings.aws_endpoint_url}/{pool_id}/.well-known/jwks.json",
        issuer=f"https://cognito-idp.{settings.region}.amazonaws.com/{pool_id}",
    )
    return cognito, tuple(users)
