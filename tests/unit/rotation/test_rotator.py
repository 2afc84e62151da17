"""The four rotation steps on moto with an in-memory issuer: contract checks, idempotency, failure paths."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tradeops.aws import clients
from tradeops.aws.rotation import (
    CURRENT,
    PENDING,
    PREVIOUS,
    REVOKE_LABEL_PREFIX,
    RotationError,
    RotationEvent,
    SecretRotator,
    StagedKeyIssuer,
    Step,
)
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, SecretRotated
from tradeops.venue.credentials import ExchangeCredentials

pytestmark = pytest.mark.integration  # moto server
TOKEN = "9f0c7c2e-0000-4000-8000-000000000001"
OLD = {"apiKey": "old-key-0123456789", "secret": "old-secret-0123456789abcdef"}


class FakeIssuer:
    """Issues numbered keys and records revocations."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.revoked: list[str] = []

    def issue(self, current: ExchangeCredentials) -> ExchangeCredentials:
        key = f"new-key-{len(self.issued):04d}-{secrets.token_hex(4)}"
        self.issued.append(key)
        return ExchangeCredentials(api_key=key, secret=f"s-{key}-0123456789", version_id=None)

    def revoke(self, api_key: str) -> bool:
        self.revoked.append(api_key)
        return True


class Harness:
    def __init__(
        self,
        settings: Settings,
        sm: Any,
        issuer: Any,
        *,
        require_enabled: bool = False,
        default_secret_id: str | None = None,
    ) -> None:
        self.secret_id = settings.exchange_secret_id
        self.sm = sm
        self.issuer = issuer
        self.verified: list[str] = []
        self.fail_verify = False
        self.events: list[EventDetail] = []
        self.now = 1_000_000.0
        self.rotator = SecretRotator(
            sm,
            issuer,
            self._verify,
            self.events.append,
            grace_s=60,
            require_enabled=require_enabled,
            clock=lambda: self.now,
            default_secret_id=default_secret_id,
        )

    def _verify(self, credentials: ExchangeCredentials) -> None:
        self.verified.append(credentials.api_key)
        if self.fail_verify:
            raise RuntimeError("venue says -2015 invalid key")

    def stages(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = self.sm.describe_secret(SecretId=self.secret_id)["VersionIdsToStages"]
        return result

    def value(self, stage: str, version: str | None = None) -> dict[str, str]:
        kwargs = {"SecretId": self.secret_id, "VersionStage": stage}
        if version:
            kwargs["VersionId"] = version
        result: dict[str, str] = json.loads(self.sm.get_secret_value(**kwargs)["SecretString"])
        return result

    def step(self, step: Step, token: str = TOKEN) -> None:
        self.rotator.run_step(RotationEvent(self.secret_id, token, step))


@pytest.fixture
def harness(aws_settings: Settings) -> Callable[..., Harness]:
    sm = clients.client("secretsmanager", aws_settings)
    sm.create_secret(Name=aws_settings.exchange_secret_id, SecretString=json.dumps(OLD))
    return lambda issuer=None, **kw: Harness(aws_settings, sm, issuer or FakeIssuer(), **kw)


def test_each_step_twice_is_harmless_and_finish_promotes_once(harness: Callable[..., Harness]) -> None:
    h = harness()
    old_version = next(v for v, s in h.stages().items() if CURRENT in s)
    for step in Step:
        h.step(step)
        h.step(step)
    assert len(h.issuer.issued) == 1  # createSecret twice issued one key
    stages = h.stages()
    assert stages[TOKEN] == [CURRENT]  # AWSPENDING removed, AWSCURRENT on the token
    labels = stages[old_version]
    assert PREVIOUS in labels
    assert [label for label in labels if label.startswith(REVOKE_LABEL_PREFIX)] == [
        f"{REVOKE_LABEL_PREFIX}{1_000_060}"
    ]
    assert h.value(CURRENT)["apiKey"] == h.issuer.issued[0]
    assert h.verified == [h.issuer.issued[0]] * 2
    assert all(isinstance(e, SecretRotated) and e.version_id == TOKEN for e in h.events)
    assert len(h.events) == 2  # at least once: a retried finish republishes, the adapter dedups by key


def test_failed_test_secret_stops_the_rotation_with_awscurrent_untouched(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.fail_verify = True
    h.step(Step.CREATE)
    h.step(Step.SET)
    with pytest.raises(RotationError, match=r"signed read with pending version .* failed: RuntimeError"):
        h.step(Step.TEST)
    assert h.value(CURRENT) == OLD
    assert h.stages()[TOKEN] == [PENDING] and h.events == []


def test_rotate_with_failing_test_secret_never_finishes(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.fail_verify = True
    with pytest.raises(RotationError):
        h.rotator.rotate(h.secret_id, TOKEN)
    assert h.value(CURRENT) == OLD and h.events == []


def test_event_validation(harness: Callable[..., Harness]) -> None:
    h = harness()
    with pytest.raises(RotationError, match="unknown rotation step 'dropSecret'"):
        h.rotator.handle({"SecretId": h.secret_id, "ClientRequestToken": TOKEN, "Step": "dropSecret"})
    with pytest.raises(RotationError, match=r"lacks string field.*ClientRequestToken"):
        h.rotator.handle({"SecretId": h.secret_id, "Step": "createSecret"})
    with pytest.raises(RotationError, match="revokeDue event lacks SecretId"):
        h.rotator.handle({"Action": "revokeDue"})


@pytest.mark.parametrize("step", [Step.SET, Step.TEST, Step.FINISH])
def test_later_steps_need_the_token_staged(harness: Callable[..., Harness], step: Step) -> None:
    h = harness()
    with pytest.raises(RotationError, match=f"has no version {TOKEN} staged for rotation"):
        h.step(step)
    assert h.value(CURRENT) == OLD


def test_a_token_on_a_version_not_pending_is_refused(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.rotator.rotate(h.secret_id, TOKEN)
    previous = next(v for v, s in h.stages().items() if PREVIOUS in s)
    with pytest.raises(RotationError, match="is not staged as AWSPENDING"):
        h.step(Step.CREATE, previous)


def test_secret_not_enabled_for_rotation_is_refused(harness: Callable[..., Harness]) -> None:
    h = harness(require_enabled=True)
    with pytest.raises(RotationError, match="is not enabled for rotation"):
        h.step(Step.CREATE)
    # Enable it as moto allows (a rotation Lambda it cannot find), then drop moto's placeholder version.
    with pytest.raises(ClientError):
        h.sm.rotate_secret(
            SecretId=h.secret_id,
            RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:tradeops-rotate_secret",
            RotationRules={"AutomaticallyAfterDays": 30},
        )
    placeholder = next(v for v, s in h.stages().items() if PENDING in s)
    h.sm.update_secret_version_stage(
        SecretId=h.secret_id, VersionStage=PENDING, RemoveFromVersionId=placeholder
    )
    h.rotator.rotate(h.secret_id, TOKEN)
    assert h.value(CURRENT)["apiKey"] == h.issuer.issued[0]


def test_old_key_revoked_once_after_the_grace_period(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.rotator.rotate(h.secret_id, TOKEN)
    h.now += 59
    assert h.rotator.revoke_due(h.secret_id) == [] and h.issuer.revoked == []
    h.now += 1
    previous = next(v for v, s in h.stages().items() if PREVIOUS in s)
    assert h.rotator.handle({"Action": "revokeDue", "SecretId": h.secret_id}) == {
        "revoked_versions": [previous]
    }
    assert h.issuer.revoked == [OLD["apiKey"]]
    assert h.stages()[previous] == [PREVIOUS]
    assert h.rotator.revoke_due(h.secret_id) == [] and h.issuer.revoked == [OLD["apiKey"]]


def test_next_rotation_revokes_the_due_key_first(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.rotator.rotate(h.secret_id, TOKEN)
    h.now += 3600
    second = "9f0c7c2e-0000-4000-8000-000000000002"
    h.rotator.handle({"SecretId": h.secret_id, "ClientRequestToken": second, "Step": "createSecret"})
    assert h.issuer.revoked == [OLD["apiKey"]]


def test_the_hourly_schedule_revokes_due_keys_of_the_default_secret(
    harness: Callable[..., Harness], aws_settings: Settings
) -> None:
    h = harness(default_secret_id=aws_settings.exchange_secret_id)
    h.rotator.rotate(h.secret_id, TOKEN)
    assert h.rotator.handle({"Action": "revokeDue"}) == {"revoked_versions": []}  # grace not over yet
    h.now += 3600
    assert h.rotator.handle({"Action": "revokeDue"})["revoked_versions"]
    assert h.issuer.revoked == [OLD["apiKey"]]


class RefusingPut:
    """A Secrets Manager client whose PutSecretValue fails (throttled), everything else passes through."""

    def __init__(self, sm: Any) -> None:
        self._sm = sm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sm, name)

    def put_secret_value(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "PutSecretValue")


def test_an_issued_key_that_cannot_be_stored_is_revoked(aws_settings: Settings) -> None:
    sm = clients.client("secretsmanager", aws_settings)
    sm.create_secret(Name=aws_settings.exchange_secret_id, SecretString=json.dumps(OLD))
    issuer = FakeIssuer()
    h = Harness(aws_settings, RefusingPut(sm), issuer)
    with pytest.raises(ClientError):
        h.step(Step.CREATE)
    assert issuer.revoked == issuer.issued and len(issuer.issued) == 1
    assert TOKEN not in h.stages()


def test_staged_issuer_adopts_the_staged_key_and_refuses_without_one(harness: Callable[..., Harness]) -> None:
    h = harness(StagedKeyIssuer())
    with pytest.raises(RotationError, match="no key staged under AWSPENDING"):
        h.step(Step.CREATE)
    h.sm.put_secret_value(
        SecretId=h.secret_id,
        ClientRequestToken="staged-by-operator-00000000000000000001",
        SecretString=json.dumps(OLD),
        VersionStages=[PENDING],
    )
    with pytest.raises(RotationError, match="is the current key"):
        h.step(Step.CREATE)
    new = {"apiKey": "ui-key-0123456789", "secret": "ui-secret-0123456789abcdef"}
    h.sm.put_secret_value(
        SecretId=h.secret_id,
        ClientRequestToken="staged-by-operator-00000000000000000002",
        SecretString=json.dumps(new),
        VersionStages=[PENDING],
    )
    h.rotator.rotate(h.secret_id, TOKEN)
    assert h.value(CURRENT) == new and h.verified == [new["apiKey"]]
    assert h.stages()["staged-by-operator-00000000000000000002"] == []
    h.now += 60
    assert h.rotator.revoke_due(h.secret_id)  # the staged issuer cannot revoke: it logs the instruction
