"""Data: one DynamoDB table per ``TableSpec``, the WORM journal archive and the reports bucket.

Tables: on demand, point-in-time recovery, a customer-managed KMS key with rotation, TTL and stream
from the spec (the journal streams NEW_IMAGE to the archiver), deletion protection, retained on stack
deletion.

The journal archive is S3 Object Lock in COMPLIANCE mode with a default retention from the context
``worm_retention_days``. Compliance mode already stops every principal, root included, from shortening
retention or deleting a locked version; the bucket policy denies the same requests explicitly so a
mistake cannot even be attempted, and so the template states the guarantee where reviewers and the
infra tests can read it:

* ``s3:PutObject`` for every principal but the archiver's role (``aws:PrincipalArn``; the role has a
  fixed name, :func:`infra.constructs.archive.worm_writer_role_arn`, so this stack needs no reference
  to the functions stack that depends on it), and any upload with another mode or a shorter retention;
* ``s3:PutObjectRetention``, ``s3:BypassGovernanceRetention``, ``s3:DeleteObject(Version)`` and
  ``s3:PutBucketObjectLockConfiguration`` for everyone. A longer default retention therefore needs a
  reviewed change that lifts the last statement first (CloudFormation is denied it too);
* every request without TLS (``enforce_ssl``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.archive import WORM_DENIED_OBJECT_ACTIONS, worm_writer_role_arn
from infra.context import NAMES, construct_name
from tradeops.store.tables import TABLES, AttrType, Key, TableSpec

_ATTR_TYPES = {AttrType.S: dynamodb.AttributeType.STRING, AttrType.N: dynamodb.AttributeType.NUMBER}


class DataStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, worm_retention_days: int, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table_key = kms.Key(
            self,
            "TableKey",
            alias="alias/tradeops/tables",
            description="tradeops DynamoDB tables",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.tables: dict[str, dynamodb.Table] = {spec.name: self._table(spec) for spec in TABLES}

        self.bucket_key = kms.Key(
            self,
            "BucketKey",
            alias="alias/tradeops/buckets",
            description="tradeops journal archive and reports buckets",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to an SSE-S3 bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(worm_retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.worm_bucket = self._bucket(
            "JournalArchive",
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                Duration.days(worm_retention_days)
            ),
        )
        self._deny_tampering(self.worm_bucket, worm_retention_days)
        self.reports_bucket = self._bucket("Reports")

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            f"{construct_name(spec.name)}Table",
            table_name=NAMES.table_name(spec),
            partition_key=_attribute(spec.partition),
            sort_key=_attribute(spec.sort) if spec.sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            stream=dynamodb.StreamViewType.NEW_IMAGE if spec.stream else None,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition),
                sort_key=_attribute(index.sort) if index.sort else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _bucket(self, construct_id: str, **kwargs: Any) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.bucket_key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{construct_id}/",
            removal_policy=RemovalPolicy.RETAIN,
            **kwargs,
        )

    @staticmethod
    def _deny_tampering(bucket: s3.Bucket, retention_days: int) -> None:
        objects = bucket.arn_for_objects("*")
        everyone = [iam.AnyPrincipal()]
        statements = [
            iam.PolicyStatement(
                sid="DenyPutObjectExceptArchiver",
                effect=iam.Effect.DENY,
                principals=everyone,
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": worm_writer_role_arn(Stack.of(bucket))}},
            ),
            iam.PolicyStatement(
                sid="DenyDeletionAndRetentionChanges",
                effect=iam.Effect.DENY,
                principals=everyone,
                actions=list(WORM_DENIED_OBJECT_ACTIONS),
                resources=[objects],
            ),
            iam.PolicyStatement(
                sid="DenyObjectLockReconfiguration",
                effect=iam.Effect.DENY,
                principals=everyone,
                actions=["s3:PutBucketObjectLockConfiguration"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="DenyNonComplianceRetention",
                effect=iam.Effect.DENY,
                principals=everyone,
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "Null": {"s3:object-lock-mode": "false"},
                    "StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"},
                },
            ),
            iam.PolicyStatement(
                sid="DenyShorterRetention",
                effect=iam.Effect.DENY,
                principals=everyone,
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"NumericLessThan": {"s3:object-lock-remaining-retention-days": retention_days}},
            ),
        ]
        for statement in statements:
            bucket.add_to_resource_policy(statement)


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTR_TYPES[key.type])
