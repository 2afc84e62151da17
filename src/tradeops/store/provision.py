"""Create the DynamoDB tables from their TableSpecs (embedded stack and tests; CDK builds the same specs).

Idempotent: an existing table is checked against its spec (keys and indexes) instead of recreated, and
TTL is enabled only where it is not already. Returns once every table is ACTIVE.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.store.base import SchemaMismatch
from tradeops.store.tables import TABLES, TableSpec

_WAIT = {"Delay": 1, "MaxAttempts": 300}


def table_definition(spec: TableSpec, table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for ``spec``: on-demand, GSIs projecting ALL, NEW_IMAGE stream if asked."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind.value}
            for name, kind in sorted(spec.key_attributes().items())
        ],
        "KeySchema": _key_schema(spec.partition.name, spec.sort.name if spec.sort else None),
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition.name, index.sort.name if index.sort else None),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    return request


def create_tables(settings: Settings, specs: Iterable[TableSpec] = TABLES) -> None:
    """Create (or verify) every table in ``specs`` under ``settings`` and wait until all are ACTIVE."""
    dynamodb = client("dynamodb", settings)
    specs = tuple(specs)
    for spec in specs:
        request = table_definition(spec, settings.table_name(spec))
        try:
            dynamodb.create_table(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            _check_existing(dynamodb, spec, request)
    waiter = dynamodb.get_waiter("table_exists")
    for spec in specs:
        waiter.wait(TableName=settings.table_name(spec), WaiterConfig=_WAIT)
        if spec.ttl_attribute:
            _enable_ttl(dynamodb, settings.table_name(spec), spec.ttl_attribute)


def _key_schema(partition: str, sort: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort, "KeyType": "RANGE"})
    return schema


def _check_existing(dynamodb: Any, spec: TableSpec, request: dict[str, Any]) -> None:
    """Refuse to adopt a table of the same name whose keys, indexes or stream differ from the spec."""
    table = dynamodb.describe_table(TableName=request["TableName"])["Table"]
    problems = []
    if table["KeySchema"] != request["KeySchema"]:
        problems.append(f"key schema {table['KeySchema']}")
    have = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
    want = {i["IndexName"]: i["KeySchema"] for i in request.get("GlobalSecondaryIndexes", [])}
    if have != want:
        problems.append(f"indexes {sorted(have)}")
    if spec.stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
        problems.append("stream disabled")
    if problems:
        raise SchemaMismatch(
            f"table {request['TableName']} exists but differs from spec {spec.name!r}: " + "; ".join(problems)
        )


def _enable_ttl(dynamodb: Any, table_name: str, attribute: str) -> None:
    current = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if current.get("AttributeName") != attribute:
            raise SchemaMismatch(
                f"table {table_name} has TTL on {current.get('AttributeName')!r}, spec says {attribute!r}"
            )
        return
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )
