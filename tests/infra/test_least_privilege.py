"""Least privilege and encryption, asserted on every synthesized template (issue #6, point 5).

IAM is not enforced by moto, so what the embedded stack cannot prove is proven here, on what would be
deployed: who may write which table, that the journal is only appended (by the gateway, the operator
API and the risk monitor, with ``PutItem``) and rewritten by nobody, that only the archiver writes
the WORM bucket, what the reconciler may touch, and that every queue, topic, table, bucket and secret
is encrypted with a customer-managed KMS key (the only exceptions: access-log destinations, where AWS
log delivery needs SSE-S3, and the UI's public static assets; both asserted to be exactly that).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from infra.context import NAMES
from infra.stacks.gateway import TABLES_READ_WRITE

from tradeops.routes import FUNCTIONS, FUNCTIONS_BY_NAME
from tradeops.store.tables import TABLES, TABLES_BY_NAME

from .conftest import Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

DYNAMODB_WRITES = {
    "dynamodb:putitem",
    "dynamodb:updateitem",
    "dynamodb:deleteitem",
    "dynamodb:batchwriteitem",
    "dynamodb:partiqlinsert",
    "dynamodb:partiqlupdate",
    "dynamodb:partiqldelete",
}
JOURNAL_REWRITES = DYNAMODB_WRITES - {"dynamodb:putitem"}
JOURNAL_APPENDING_FUNCTIONS = ("api", "risk_monitor")
JOURNAL_ACTIONS = {
    "dynamodb:putitem",
    "dynamodb:getitem",
    "dynamodb:query",
    "dynamodb:describetable",
    # The archiver's stream event source reads the journal's stream.
    "dynamodb:describestream",
    "dynamodb:getrecords",
    "dynamodb:getsharditerator",
}
UNSCOPABLE_DYNAMODB_ACTIONS = {"dynamodb:liststreams"}
SECRET_WRITES = {"secretsmanager:putsecretvalue", "secretsmanager:updatesecretversionstage"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(synth: Synth) -> dict[Ref, list[tuple[str, dict[str, Any]]]]:
    """Allow statements of every identity policy, by the role they are attached to."""
    grants: dict[Ref, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for (stack, _), policy in synth.resources("AWS::IAM::Policy").items():
        for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            for role in policy["Properties"].get("Roles", []):
                resolved = _role(synth, stack, role)
                assert resolved is not None, role
                grants[resolved].append((stack, statement))
    return grants


def _role(synth: Synth, stack: str, value: Any) -> Ref | None:
    """The role a policy's ``Roles`` entry names: a Ref, or the name cut out of a role ARN imported from
    another stack (``Fn::Select``/``Fn::Split`` around a cross-stack reference)."""
    ref = synth.resolve(stack, value)
    if ref is not None and synth.resource(ref)["Type"] == "AWS::IAM::Role":
        return ref
    if isinstance(value, dict):
        inner = [v for v in value.values()]
    elif isinstance(value, list):
        inner = value
    else:
        return None
    found = {r for r in (_role(synth, stack, v) for v in inner) if r is not None}
    return found.pop() if len(found) == 1 else None


def _tables(synth: Synth) -> dict[Ref, str]:
    return {synth.find("AWS::DynamoDB::Table", TableName=NAMES.table_name(t)): t.name for t in TABLES}


def _named(synth: Synth, stack: str, statement: dict[str, Any], refs: dict[Ref, str]) -> set[str]:
    """Which of ``refs`` a statement's resources name (a table ARN or one of its index ARNs)."""
    named: set[str] = set()
    for resource in _as_list(statement["Resource"]):
        if resource == "*":  # only what has no resource-level permission (the stream event source)
            dynamodb = {a.lower() for a in _as_list(statement["Action"]) if a.lower().startswith("dynamodb:")}
            assert dynamodb <= UNSCOPABLE_DYNAMODB_ACTIONS, statement
        parts = (
            resource["Fn::Join"][1] if isinstance(resource, dict) and "Fn::Join" in resource else [resource]
        )
        for part in parts:
            ref = synth.resolve(stack, part)
            if ref in refs:
                named.add(refs[ref])
    return named


def _table_access(synth: Synth) -> dict[str, dict[Ref, set[str]]]:
    """table -> role -> lower-cased DynamoDB actions granted on it."""
    tables = _tables(synth)
    access: dict[str, dict[Ref, set[str]]] = defaultdict(lambda: defaultdict(set))
    for role, statements in _grants(synth).items():
        for stack, statement in statements:
            actions = {a.lower() for a in _as_list(statement["Action"])}
            assert "dynamodb:*" not in actions and "*" not in actions, (role, statement)
            for table in _named(synth, stack, statement, tables):
                access[table][role] |= {a for a in actions if a.startswith("dynamodb:")}
    return access


def _role_of_function(synth: Synth, name: str) -> Ref:
    function = synth.find("AWS::Lambda::Function", FunctionName=name)
    role = synth.resolve(function[0], synth.resource(function)["Properties"]["Role"])
    assert role is not None
    return role


def _gateway_role(synth: Synth) -> Ref:
    [role] = [
        ref
        for ref, r in synth.resources("AWS::IAM::Role", "TradeopsGateway").items()
        if r["Properties"].get("Description", "").startswith("tradeops gateway")
    ]
    return role


def test_only_the_gateway_writes_orders_fills_and_positions(synth: Synth) -> None:
    access = _table_access(synth)
    gateway = _gateway_role(synth)
    for table in ("orders", "fills", "positions"):
        assert table in TABLES_READ_WRITE
        writers = {role for role, actions in access[table].items() if actions & DYNAMODB_WRITES}
        assert writers == {gateway}, table


def test_the_journal_is_appended_by_put_item_only_and_rewritten_by_nobody(synth: Synth) -> None:
    access = _table_access(synth)
    journal = access["journal"]
    writers = {role for role, actions in journal.items() if actions & DYNAMODB_WRITES}
    # The reviewed appenders: the gateway (orders), the operator API (every mutation is journaled with
    # the user) and the risk monitor (the halts and restrictions it decides are control changes).
    appenders = {_role_of_function(synth, f"tradeops-{name}") for name in JOURNAL_APPENDING_FUNCTIONS}
    assert writers == {_gateway_role(synth), *appenders}
    assert {f.name for f in FUNCTIONS if "journal" in f.tables_write} == {"risk_monitor"}
    for role, actions in journal.items():
        assert not actions & JOURNAL_REWRITES, (role, actions)
        assert actions <= JOURNAL_ACTIONS, (role, actions)
    assert TABLES_BY_NAME["journal"].append_only


def test_the_reconciler_reads_the_venue_key_and_writes_only_its_own_tables(synth: Synth) -> None:
    role = _role_of_function(synth, "tradeops-reconcile")
    access = _table_access(synth)
    written = {table for table, roles in access.items() if roles.get(role, set()) & DYNAMODB_WRITES}
    # Its runs and breaks, and the powertools idempotency records of its own invocations.
    assert written == {"recon_runs", "recon_breaks", "idempotency"}
    assert set(FUNCTIONS_BY_NAME["reconcile"].tables_write) == written
    read = {table for table, roles in access.items() if role in roles}
    assert {"orders", "fills", "positions", "balances"} <= read
    secret = synth.find("AWS::SecretsManager::Secret", Name=NAMES.exchange_secret_id)
    secret_actions: set[str] = set()
    for stack, statement in _grants(synth)[role]:
        actions = {a.lower() for a in _as_list(statement["Action"])}
        if any(a.startswith("secretsmanager:") for a in actions):
            assert [synth.resolve(stack, r) for r in _as_list(statement["Resource"])] == [secret]
            secret_actions |= actions
    assert "secretsmanager:getsecretvalue" in secret_actions and not secret_actions & SECRET_WRITES


def test_only_the_archiver_may_write_the_worm_bucket(synth: Synth) -> None:
    [worm] = [
        ref
        for ref, r in synth.resources("AWS::S3::Bucket").items()
        if r["Properties"].get("ObjectLockEnabled")
    ]
    writers: set[Ref] = set()
    for role, statements in _grants(synth).items():
        for stack, statement in statements:
            actions = {a.lower() for a in _as_list(statement["Action"])}
            if not actions & {"s3:putobject", "s3:*", "*", "s3:put*"}:
                continue
            for resource in _as_list(statement["Resource"]):
                parts = (
                    resource["Fn::Join"][1]
                    if isinstance(resource, dict) and "Fn::Join" in resource
                    else [resource]
                )
                if resource == "*" or any(synth.resolve(stack, p) == worm for p in parts):
                    writers.add(role)
    assert writers == {_role_of_function(synth, "tradeops-archiver")}


def _key(synth: Synth, stack: str, value: Any) -> Ref | None:
    ref = synth.resolve(stack, value)
    return ref if ref is not None and synth.resource(ref)["Type"] == "AWS::KMS::Key" else None


def test_queues_topics_tables_and_the_secret_use_customer_managed_keys(synth: Synth) -> None:
    checks = {
        "AWS::SQS::Queue": lambda p: p.get("KmsMasterKeyId"),
        "AWS::SNS::Topic": lambda p: p.get("KmsMasterKeyId"),
        "AWS::DynamoDB::Table": lambda p: p.get("SSESpecification", {}).get("KMSMasterKeyId"),
        "AWS::SecretsManager::Secret": lambda p: p.get("KmsKeyId"),
    }
    for type_, key_of in checks.items():
        resources = synth.resources(type_)
        assert resources, type_
        for (stack, logical_id), resource in resources.items():
            assert _key(synth, stack, key_of(resource["Properties"])), (type_, stack, logical_id)


def _log_destinations(synth: Synth) -> set[Ref]:
    found: set[Ref] = set()
    for (stack, _), bucket in synth.resources("AWS::S3::Bucket").items():
        target = bucket["Properties"].get("LoggingConfiguration", {}).get("DestinationBucketName")
        if target is not None:
            found.add(synth.resolve(stack, target) or (stack, str(target)))
    for (stack, _), distribution in synth.resources("AWS::CloudFront::Distribution").items():
        logging = distribution["Properties"]["DistributionConfig"].get("Logging")
        if logging:
            found.add(synth.resolve(stack, logging["Bucket"]) or (stack, str(logging["Bucket"])))
    return found


def _cloudfront_origins(synth: Synth) -> set[Ref]:
    found: set[Ref] = set()
    for (stack, _), distribution in synth.resources("AWS::CloudFront::Distribution").items():
        for origin in distribution["Properties"]["DistributionConfig"]["Origins"]:
            if "S3OriginConfig" in origin and origin.get("OriginAccessControlId"):
                ref = synth.resolve(stack, origin["DomainName"])
                assert ref is not None
                found.add(ref)
    return found


def test_every_bucket_uses_a_customer_managed_key_except_log_destinations_and_ui_assets(synth: Synth) -> None:
    exempt = _log_destinations(synth) | _cloudfront_origins(synth)
    assert len(exempt) >= 2
    for (stack, logical_id), bucket in synth.resources("AWS::S3::Bucket").items():
        props = bucket["Properties"]
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        if (stack, logical_id) in exempt:
            assert default == {"SSEAlgorithm": "AES256"}, logical_id
            assert "ObjectLockEnabled" not in props
        else:
            assert default["SSEAlgorithm"] == "aws:kms", logical_id
            assert _key(synth, stack, default["KMSMasterKeyID"]), logical_id
