"""Data stack: tables equal the store's TableSpecs; the journal archive is WORM.

moto (the embedded AWS) lets ``PutObjectRetention`` shorten a COMPLIANCE retention, which real S3
refuses, so the embedded stack cannot prove immutability: these tests assert what is deployed, the
Object Lock configuration and the bucket policy that denies deletion and retention shortening.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from infra.app import cdk_json_context
from infra.constructs.archive import WORM_WRITER_ROLE_PREFIX
from infra.context import NAMES, DeployContext
from infra.stacks.data import DataStack

from tradeops.store.tables import JOURNAL, TABLES, Key, TableSpec

from .conftest import Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

DATA = "TradeopsData"


def _key_schema(partition: Key, sort: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": sort.name, "KeyType": "RANGE"}] if sort else [])


def _table(synth: Synth, spec: TableSpec) -> dict[str, Any]:
    return synth.resource(synth.find("AWS::DynamoDB::Table", TableName=NAMES.table_name(spec)))


def test_one_table_per_spec_with_its_keys_indexes_ttl_and_stream(synth: Synth) -> None:
    assert len(synth.resources("AWS::DynamoDB::Table")) == len(TABLES)
    for spec in TABLES:
        props = _table(synth, spec)["Properties"]
        assert props["KeySchema"] == _key_schema(spec.partition, spec.sort), spec.name
        assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
            name: str(kind) for name, kind in spec.key_attributes().items()
        }, spec.name
        indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in spec.indexes}, spec.name
        for index in spec.indexes:
            assert indexes[index.name]["KeySchema"] == _key_schema(index.partition, index.sort)
            assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
        expected_ttl = {"AttributeName": spec.ttl_attribute, "Enabled": True} if spec.ttl_attribute else None
        assert props.get("TimeToLiveSpecification") == expected_ttl, spec.name
        expected_stream = {"StreamViewType": "NEW_IMAGE"} if spec.stream else None
        assert props.get("StreamSpecification") == expected_stream, spec.name


def test_every_table_is_on_demand_recoverable_encrypted_and_protected(synth: Synth) -> None:
    key = synth.find("AWS::KMS::Key", Description="tradeops DynamoDB tables")
    for spec in TABLES:
        table = _table(synth, spec)
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, spec.name
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert synth.resolve(DATA, props["SSESpecification"]["KMSMasterKeyId"]) == key
        assert props["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_the_journal_streams_new_images_to_the_archiver(synth: Synth) -> None:
    assert JOURNAL.stream and JOURNAL.append_only
    assert _table(synth, JOURNAL)["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_every_kms_key_rotates(synth: Synth) -> None:
    keys = synth.resources("AWS::KMS::Key")
    assert len(keys) >= 4
    assert all(key["Properties"]["EnableKeyRotation"] is True for key in keys.values())


def _worm_bucket(synth: Synth) -> tuple[str, str]:
    return synth.find(
        "AWS::S3::Bucket",
        ObjectLockEnabled=True,
    )


def test_worm_bucket_is_object_locked_in_compliance_mode_for_2555_days(synth: Synth) -> None:
    bucket = synth.resource(_worm_bucket(synth))
    props = bucket["Properties"]
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}},
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert all(props["PublicAccessBlockConfiguration"].values())
    log_bucket = synth.resolve(DATA, props["LoggingConfiguration"]["DestinationBucketName"])
    assert log_bucket is not None and log_bucket != _worm_bucket(synth)
    assert bucket["DeletionPolicy"] == "Retain"


def _worm_policy_statements(synth: Synth) -> list[dict[str, Any]]:
    worm = _worm_bucket(synth)
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for ref, p in synth.resources("AWS::S3::BucketPolicy", DATA).items()
        if synth.resolve(DATA, p["Properties"]["Bucket"]) == worm
    ]
    assert len(policies) == 1
    return list(policies[0])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _denies(statements: list[dict[str, Any]], action: str, condition: dict[str, Any] | None) -> bool:
    for statement in statements:
        if (
            statement["Effect"] == "Deny"
            and statement["Principal"] in ({"AWS": "*"}, "*")
            and action in _as_list(statement["Action"])
            and statement.get("Condition") == condition
        ):
            return True
    return False


def _sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    [statement] = [s for s in statements if s.get("Sid") == sid]
    return statement


def _worm_writer_role(synth: Synth) -> Ref:
    function = synth.find("AWS::Lambda::Function", FunctionName="tradeops-archiver")
    role = synth.resolve(function[0], synth.resource(function)["Properties"]["Role"])
    assert role is not None
    return role


def test_worm_bucket_policy_denies_deletion_and_retention_changes_to_everyone(synth: Synth) -> None:
    statements = _worm_policy_statements(synth)
    for action in (
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:PutObjectRetention",
        "s3:PutBucketObjectLockConfiguration",
    ):
        assert _denies(statements, action, None), action
    lock_config = _sid(statements, "DenyObjectLockReconfiguration")
    assert synth.resolve(DATA, lock_config["Resource"]) == _worm_bucket(synth)  # the bucket, not objects
    shorter = {"NumericLessThan": {"s3:object-lock-remaining-retention-days": 2555}}
    other_mode = {
        "Null": {"s3:object-lock-mode": "false"},
        "StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"},
    }
    assert _denies(statements, "s3:PutObject", shorter)
    assert _denies(statements, "s3:PutObject", other_mode)
    assert _denies(statements, "s3:*", {"Bool": {"aws:SecureTransport": "false"}})
    assert not [s for s in statements if s["Effect"] == "Allow"]


def test_worm_bucket_policy_denies_put_object_to_every_principal_but_the_archiver_role(synth: Synth) -> None:
    statement = _sid(_worm_policy_statements(synth), "DenyPutObjectExceptArchiver")
    assert statement["Effect"] == "Deny" and statement["Principal"] in ({"AWS": "*"}, "*")
    assert _as_list(statement["Action"]) == ["s3:PutObject"]
    ((operator, condition),) = statement["Condition"].items()
    assert operator == "ArnNotEquals" and list(condition) == ["aws:PrincipalArn"]
    # The ARN the policy admits is the archiver role's: same partition and account, the fixed name.
    region = {"Ref": "AWS::Region"}
    assert synth.resource(_worm_writer_role(synth))["Properties"]["RoleName"] == {
        "Fn::Join": ["", [WORM_WRITER_ROLE_PREFIX, region]]
    }
    arn_prefix = ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}]
    assert condition["aws:PrincipalArn"] == {
        "Fn::Join": ["", [*arn_prefix, f":role/{WORM_WRITER_ROLE_PREFIX}", region]]
    }
    # Only one role may carry that name, and it is the one with the WORM grant (test_archive checks that).
    named = [r for r in synth.resources("AWS::IAM::Role").values() if "RoleName" in r["Properties"]]
    assert [WORM_WRITER_ROLE_PREFIX in json.dumps(r["Properties"]["RoleName"]) for r in named].count(
        True
    ) == 1


def test_retention_comes_from_the_context() -> None:
    app = App(context={**cdk_json_context(), "worm_retention_days": 30})
    stack = DataStack(app, "Data", worm_retention_days=DeployContext.of(app).worm_retention_days)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}},
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Condition": {
                                    "NumericLessThan": {"s3:object-lock-remaining-retention-days": 30}
                                }
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("days", [0, -1, "2555", None, True])
def test_invalid_retention_context_is_refused(days: object) -> None:
    with pytest.raises(ValueError, match="worm_retention_days"):
        DeployContext.of(App(context={"worm_retention_days": days}))


def test_reports_bucket_is_encrypted_versioned_logged_and_tls_only(synth: Synth) -> None:
    buckets = synth.resources("AWS::S3::Bucket", DATA)
    reports = [ref for ref, b in buckets.items() if ref[1].startswith("Reports")]
    assert len(reports) == 1
    props = synth.resource(reports[0])["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in props
    assert "ObjectLockEnabled" not in props
