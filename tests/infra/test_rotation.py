"""The exchange secret rotates on schedule with rotate_secret, whose rights are scoped to that secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from infra.app import build_app
from infra.constructs.function import function_name
from infra.constructs.rotation import ROTATION_ACTIONS
from infra.context import NAMES

from tradeops.routes import FUNCTIONS

from .conftest import SKIP_BUNDLING, Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

ROTATOR = next(spec for spec in FUNCTIONS if spec.rotates_exchange_secret)


def _secret(synth: Synth) -> Ref:
    return synth.find("AWS::SecretsManager::Secret", Name=NAMES.exchange_secret_id)


def _rotator(synth: Synth) -> Ref:
    return synth.find("AWS::Lambda::Function", FunctionName=function_name(ROTATOR))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_exchange_secret_rotates_every_30_days_with_rotate_secret(synth: Synth) -> None:
    secret = _secret(synth)
    ((stack, _), schedule) = next(iter(synth.resources("AWS::SecretsManager::RotationSchedule").items()))
    assert len(synth.resources("AWS::SecretsManager::RotationSchedule")) == 1
    props = schedule["Properties"]
    assert stack == secret[0]  # next to the secret, where cdk-nag (SMG4) looks for it
    assert synth.resolve(stack, props["SecretId"]) == secret
    assert synth.resolve(stack, props["RotationLambdaARN"]) == _rotator(synth)
    assert props["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert "HostedRotationLambda" not in props


def test_only_secrets_manager_invokes_it_and_only_for_that_secret(synth: Synth) -> None:
    permissions = [
        (stack, p["Properties"])
        for (stack, _), p in synth.resources("AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    ]
    assert len(permissions) == 1
    stack, props = permissions[0]
    assert props["Action"] == "lambda:InvokeFunction"
    assert synth.resolve(stack, props["FunctionName"]) == _rotator(synth)
    assert synth.resolve(stack, props["SourceArn"]) == _secret(synth)


def _statements_by_role(synth: Synth) -> dict[Ref | None, list[tuple[str, dict[str, Any]]]]:
    found: dict[Ref | None, list[tuple[str, dict[str, Any]]]] = {}
    for (stack, _), policy in synth.resources("AWS::IAM::Policy").items():
        for role in policy["Properties"].get("Roles", []):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found.setdefault(synth.resolve(stack, role), []).append((stack, statement))
    return found


def test_rotation_rights_are_scoped_to_the_secret_and_its_key(synth: Synth) -> None:
    rotator = _rotator(synth)
    role = synth.resolve(rotator[0], synth.resource(rotator)["Properties"]["Role"])
    key = synth.resolve(_secret(synth)[0], synth.resource(_secret(synth))["Properties"]["KmsKeyId"])
    statements = _statements_by_role(synth)
    secret_statements = [
        (stack, s)
        for stack, s in statements[role]
        if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))
    ]
    assert len(secret_statements) == 1
    stack, statement = secret_statements[0]
    assert sorted(_as_list(statement["Action"])) == sorted(ROTATION_ACTIONS)
    assert [synth.resolve(stack, r) for r in _as_list(statement["Resource"])] == [_secret(synth)]
    kms = [
        (st, s)
        for st, s in statements[role]
        if any(a.startswith("kms:") for a in _as_list(s["Action"]))
        and key in [synth.resolve(st, r) for r in _as_list(s["Resource"])]
    ]
    assert kms and all(
        [synth.resolve(st, r) for r in _as_list(s["Resource"])] == [key]
        and "secretsmanager." in json.dumps(s["Condition"]["StringEquals"]["kms:ViaService"])
        for st, s in kms
    )
    # Its only other key is the queue key of its on-failure queue, through SQS.
    others = [s for st, s in statements[role] if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    assert all(s in [k for _, k in kms] or "sqs." in json.dumps(s["Condition"]) for s in others)
    writers = {
        r
        for r, entries in statements.items()
        for _, s in entries
        if {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
        & set(_as_list(s["Action"]))
    }
    assert writers == {role}  # nobody else can change the secret's versions


def test_smg4_is_satisfied_not_acknowledged(synth: Synth) -> None:
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                assert not any("SMG4" in key for key in entry.data), construct.node.path
    rules = {v.rule_name for v in AwsSolutionsChecks().validate_scope(synth.app).violations}
    assert not any(rule.startswith("AwsSolutions-SMG4") for rule in rules)


def test_rotation_period_and_grace_come_from_context() -> None:
    app = build_app(
        {**SKIP_BUNDLING, "exchange_key_rotation_days": 7, "exchange_key_revoke_grace_s": 900}, nag=False
    )
    templates = {stack.stack_name: stack.template for stack in app.synth().stacks}
    (schedule,) = [
        r
        for r in templates["TradeopsSecurity"]["Resources"].values()
        if r["Type"] == "AWS::SecretsManager::RotationSchedule"
    ]
    assert schedule["Properties"]["RotationRules"] == {"AutomaticallyAfterDays": 7}
    (function,) = [
        r
        for r in templates["TradeopsFunctions"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("FunctionName") == function_name(ROTATOR)
    ]
    assert function["Properties"]["Environment"]["Variables"]["ROTATION_REVOKE_GRACE_S"] == "900"


@pytest.mark.parametrize("value", [0, "30", True])
def test_a_bad_rotation_period_fails_the_synth(value: object) -> None:
    with pytest.raises(ValueError, match="exchange_key_rotation_days must be a positive integer"):
        build_app({**SKIP_BUNDLING, "exchange_key_rotation_days": value}, nag=False)
