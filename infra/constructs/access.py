"""Least-privilege grants, written out action by action (no ``dynamodb:*``, no ``kms:*`` wildcards).

Append-only tables (``TableSpec.append_only``: the journal) are writable only by ``PutItem`` -- the
conditional put of DESIGN 4.3 -- and readable only by ``GetItem``/``Query``, for every grantee: there
is no code path here that grants UpdateItem, DeleteItem or BatchWriteItem on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from tradeops.store.tables import TABLES_BY_NAME, TableSpec

READ_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
WRITE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
APPEND_ONLY_READ_ACTIONS = ("dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query")
APPEND_ONLY_WRITE_ACTIONS = ("dynamodb:PutItem",)
KMS_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KMS_WRITE_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def grant_tables(
    grantee: iam.IGrantable,
    tables: Mapping[str, dynamodb.ITable],
    key: kms.IKey,
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
) -> None:
    """Grant item access on the named tables (and their indexes) and use of their KMS key via DynamoDB."""
    read_names, write_names = sorted(set(read)), sorted(set(write))
    for name in read_names:
        _grant_table(grantee, tables[name], TABLES_BY_NAME[name], write=False)
    for name in write_names:
        _grant_table(grantee, tables[name], TABLES_BY_NAME[name], write=True)
    if read_names or write_names:
        region = Stack.of(key).region
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(KMS_WRITE_ACTIONS if write_names else KMS_READ_ACTIONS),
            resource_arns=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        )


def _grant_table(grantee: iam.IGrantable, table: dynamodb.ITable, spec: TableSpec, *, write: bool) -> None:
    actions: tuple[str, ...]
    if spec.append_only:
        actions = APPEND_ONLY_WRITE_ACTIONS if write else APPEND_ONLY_READ_ACTIONS
    else:
        actions = WRITE_ACTIONS if write else READ_ACTIONS
    resources = [table.table_arn] + [f"{table.table_arn}/index/{index.name}" for index in spec.indexes]
    iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=resources)


def grant_secret_read(grantee: iam.IGrantable, secret: secretsmanager.ISecret, key: kms.IKey) -> None:
    """Read one secret's value and decrypt it through Secrets Manager only."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        resource_arns=[secret.secret_arn],
    )
    region = Stack.of(key).region
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["kms:Decrypt"],
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
    )
