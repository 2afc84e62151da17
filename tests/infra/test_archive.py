"""Archive wiring: the journal stream feeds the archiver with an on-failure queue; only it writes WORM."""

from __future__ import annotations

from typing import Any

import pytest
from infra.constructs.archive import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS
from infra.constructs.function import function_name

from tradeops.routes import FUNCTIONS, FUNCTIONS_BY_NAME
from tradeops.store.tables import JOURNAL

from .conftest import Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

WRITE_ACTIONS = {"s3:putobject", "s3:*", "*", "s3:put*", "s3:putobjectretention", "s3:copyobject"}


def _worm_bucket(synth: Synth) -> Ref:
    [ref] = [
        ref
        for ref, r in synth.resources("AWS::S3::Bucket").items()
        if r["Properties"].get("ObjectLockEnabled") is True
    ]
    return ref


def _names(stack: str, synth: Synth, value: Any, target: Ref) -> bool:
    """True if a policy Resource value refers to ``target`` (directly or inside Fn::Join / a list)."""
    if isinstance(value, list):
        return any(_names(stack, synth, v, target) for v in value)
    if synth.resolve(stack, value) == target:
        return True
    if isinstance(value, dict) and "Fn::Join" in value:
        return any(_names(stack, synth, part, target) for part in value["Fn::Join"][1])
    return False


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements if isinstance(statements, list) else [statements]


def test_the_journal_stream_feeds_the_archiver_with_an_on_failure_queue(synth: Synth) -> None:
    spec = FUNCTIONS_BY_NAME["archiver"]
    function = synth.find("AWS::Lambda::Function", FunctionName=function_name(spec))
    table = synth.find("AWS::DynamoDB::Table", TableName=JOURNAL.physical_name("tradeops-"))
    mappings = synth.resources("AWS::Lambda::EventSourceMapping")
    assert [f.name for f in FUNCTIONS if f.stream_table] == ["archiver"]
    [(ref, mapping)] = mappings.items()
    props = mapping["Properties"]
    assert synth.resolve(ref[0], props["FunctionName"]) == function
    assert synth.resolve(ref[0], props["EventSourceArn"]) == table
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == STREAM_BATCH_SIZE
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS > 0
    assert props.get("ParallelizationFactor", 1) == 1
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    dlq = synth.resolve(ref[0], destination)
    assert dlq is not None and synth.resource(dlq)["Type"] == "AWS::SQS::Queue"
    assert dlq[1].startswith(function[1].split("Function")[0])  # the archiver's own Failures queue


def test_only_roles_of_worm_writers_may_put_objects_in_the_worm_bucket(synth: Synth) -> None:
    bucket = _worm_bucket(synth)
    writers: set[Ref] = set()
    for (stack, _), policy in synth.resources("AWS::IAM::Policy").items():
        for statement in _statements(policy):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] != "Allow" or not WRITE_ACTIONS & {a.lower() for a in actions}:
                continue
            if _names(stack, synth, statement["Resource"], bucket) or statement["Resource"] == "*":
                for role in policy["Properties"]["Roles"]:
                    writers.add(synth.resolve(stack, role) or (stack, str(role)))
    expected = {
        synth.resolve(ref[0], synth.resource(ref)["Properties"]["Role"])
        for spec in FUNCTIONS
        if spec.writes_worm_bucket
        for ref in [synth.find("AWS::Lambda::Function", FunctionName=function_name(spec))]
    }
    assert [f.name for f in FUNCTIONS if f.writes_worm_bucket] == ["archiver"]
    assert writers == expected and None not in expected


def test_the_archiver_has_no_retention_or_delete_actions(synth: Synth) -> None:
    spec = FUNCTIONS_BY_NAME["archiver"]
    function = synth.find("AWS::Lambda::Function", FunctionName=function_name(spec))
    role = synth.resolve(function[0], synth.resource(function)["Properties"]["Role"])
    actions: set[str] = set()
    for (stack, _), policy in synth.resources("AWS::IAM::Policy").items():
        if any(synth.resolve(stack, r) == role for r in policy["Properties"]["Roles"]):
            for statement in _statements(policy):
                found = statement["Action"]
                actions |= set(found if isinstance(found, list) else [found])
    assert {"s3:PutObject", "s3:GetObject", "s3:ListBucket"} <= actions
    assert not {a for a in actions if "Delete" in a or "Retention" in a or "Bypass" in a or a.endswith("*")}
