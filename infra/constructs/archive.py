"""The journal archive's wiring: the DynamoDB stream event source and the only write access to WORM.

* :func:`add_stream_source` maps a table's stream to a function from TRIM_HORIZON, one batch per shard
  at a time (parallelization 1, so one journal stream is never archived by two invocations at once),
  bisecting a failing batch and retrying it, then sending the batch's description to the function's
  on-failure queue. Integrity errors are raised by the archiver, so they end there, not skipped.
* :func:`grant_worm_write` is the only grant of ``s3:PutObject`` on the Object Lock bucket: no
  retention or delete actions (the bucket's default COMPLIANCE retention locks every version, and its
  policy denies deletes and shorter retention to everyone), reads for the idempotency checks, and the
  bucket key through S3 only. The functions stack calls it for ``FunctionSpec.writes_worm_bucket``.
* :func:`grant_worm_read` is the read-only counterpart (the operator API's audit verification).
* :func:`worm_writer_role_name` is the fixed name of that function's role: the data stack's bucket
  policy denies ``s3:PutObject`` to every other ``aws:PrincipalArn`` without referring to the functions
  stack (which depends on the data stack: a reference back would be a cycle).
"""

from __future__ import annotations

import json
from typing import cast

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

from infra.constructs.queues import without_key
from tradeops.aws.archive import PREFIX

STREAM_BATCH_SIZE = 100
STREAM_RETRY_ATTEMPTS = 10
STREAM_BATCHING_WINDOW = Duration.seconds(1)
WORM_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
WORM_BUCKET_LOGICAL_ID = "JournalArchiveACD18464"
WORM_BUCKET_ARN_OUTPUT = "PublishOutputFnGetAttJournalArchiveACD18464ArnD9B965FA"
WORM_BUCKET_ACTIONS = ("s3:ListBucket",)
WORM_KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
WORM_READ_OBJECT_ACTIONS = ("s3:GetObject",)
WORM_READ_KMS_ACTIONS = ("kms:Decrypt",)
WORM_DENIED_OBJECT_ACTIONS = (
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
)
"""Denied to every principal on the WORM bucket's objects, whatever their IAM policies say."""
WORM_WRITER_ROLE_PREFIX = "tradeops-worm-writer-"


def worm_writer_role_name() -> str:
    """The role name of the only WORM writer: fixed per region (IAM names are global to the account)."""
    return f"{WORM_WRITER_ROLE_PREFIX}{Aws.REGION}"


def worm_writer_role_arn(stack: Stack) -> str:
    """The ARN of :func:`worm_writer_role_name` in ``stack``'s account."""
    return stack.format_arn(service="iam", region="", resource="role", resource_name=worm_writer_role_name())


def add_stream_source(function: lambda_.Function, table: dynamodb.ITable, on_failure: sqs.IQueue) -> None:
    """Deliver ``table``'s stream to ``function``; exhausted batches go to ``on_failure``."""
    function.add_event_source(
        sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=STREAM_BATCH_SIZE,
            max_batching_window=STREAM_BATCHING_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            parallelization_factor=1,
            on_failure=sources.SqsDlq(without_key(function, "StreamFailuresTarget", on_failure)),
        )
    )
    if function.role is not None:
        Validations.of(function.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The DynamoDB stream event source needs dynamodb:ListStreams, which has no "
                "resource-level permissions (AWS requires Resource *); stream reads are scoped to the table.",
            )
        )


def grant_worm_write(grantee: iam.IGrantable, bucket: s3.IBucket, key: kms.IKey) -> None:
    """Create (never replace: the writer uses If-None-Match) and read archive objects under ``journal/``."""
    _grant_worm(grantee, bucket, key, WORM_OBJECT_ACTIONS, WORM_KMS_ACTIONS)


def grant_worm_read(grantee: iam.IGrantable, bucket: s3.IBucket, key: kms.IKey) -> None:
    """Read archive objects under ``journal/`` (the audit verification): Get, List, Decrypt via S3."""
    _grant_worm(grantee, bucket, key, WORM_READ_OBJECT_ACTIONS, WORM_READ_KMS_ACTIONS)


def _grant_worm(
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    key: kms.IKey,
    object_actions: tuple[str, ...],
    kms_actions: tuple[str, ...],
) -> None:
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(object_actions),
        resource_arns=[bucket.arn_for_objects(f"{PREFIX}*")],
    )
    # cdk-nag 3 acknowledges one finding by its exact text (no prefix matching): this is the prefix
    # grant's rendering in the functions stack (test_nag fails loudly if a rename changes it).
    resource = json.dumps(
        {
            "Fn::GetStackOutput": {
                "StackName": Stack.of(bucket).stack_name,
                "Region": {"Ref": "AWS::Region"},
                "OutputName": WORM_BUCKET_ARN_OUTPUT,
            }
        },
        separators=(",", ":"),
    )
    # In-process validation (validate_scope) renders the same resource before cross-stack resolution.
    for rendered in (resource, f"<{WORM_BUCKET_LOGICAL_ID}.Arn>"):
        Validations.of(cast(IConstruct, grantee.grant_principal)).acknowledge(  # a Role
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{rendered}/{PREFIX}*]",
                reason="Archive objects are named under journal/<stream>/ only at run time; the grant "
                f"is {'/'.join(a.removeprefix('s3:') for a in object_actions)} on that prefix of the WORM "
                "bucket (no delete, no retention).",
            )
        )
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(WORM_BUCKET_ACTIONS),
        resource_arns=[bucket.bucket_arn],
    )
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(kms_actions),
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(key).region}.amazonaws.com"}},
    )
