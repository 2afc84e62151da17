"""Secrets Manager rotation of the exchange key: the four steps over boto3 plus a pluggable key issuer.

The contract (event ``{"SecretId", "ClientRequestToken", "Step"}``, the token is the new version id):

* ``createSecret``: unless the token's version already holds a key under AWSPENDING, obtain one from
  the :class:`KeyIssuer` and ``PutSecretValue`` it with the token and ``VersionStages=["AWSPENDING"]``.
  :class:`SimulatorKeyIssuer` issues a key on the current key's account (``POST /_sim/keys``);
  :class:`StagedKeyIssuer` (real venues issue keys only in their web UI) uses the key an operator staged
  under AWSPENDING beforehand (``tradeops secrets stage``), moved to the token if staged under another id.
* ``setSecret``: nothing: the venue already knows an issued key (it was issued in createSecret).
* ``testSecret``: a signed read (``fetch_balance``) with the pending key; a failure raises, so the
  rotation stops with AWSCURRENT untouched.
* ``finishSecret``: move AWSCURRENT to the token (AWSPREVIOUS follows), remove AWSPENDING from it (moto
  leaves it), label the old version ``tradeops-revoke-after-<epoch s>`` and publish "Secret Rotated".

Revocation: the old key stays valid for ``grace_s`` so in-flight gateway calls finish on it. The label
on the old version (the version keeps the key) is the schedule; :meth:`SecretRotator.revoke_due`
revokes every due key through the issuer and drops the label. It runs at the start of every rotation
invocation and on ``{"Action": "revokeDue"}`` events (and ``tradeops secrets revoke-due``).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from tradeops.config import Settings
from tradeops.domain.events import EventDetail, SecretRotated
from tradeops.observability import get_logger, register_secret
from tradeops.venue.credentials import CredentialsError, ExchangeCredentials

if TYPE_CHECKING:  # ccxt is imported when a signed read runs (testSecret), not on every cold start
    from ccxt.async_support import binance

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
REVOKE_LABEL_PREFIX = "tradeops-revoke-after-"
DEFAULT_GRACE_S = 3600
EVENT_SOURCE = "tradeops.rotation"
log = get_logger("tradeops.rotation")


class RotationError(RuntimeError):
    """The rotation cannot proceed; the message names the secret, version and reason, never a value."""


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


@dataclass(frozen=True)
class RotationEvent:
    secret_id: str
    token: str
    step: Step

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> RotationEvent:
        """Validate a rotation event; an unknown step or a missing field raises :class:`RotationError`."""
        missing = [k for k in ("SecretId", "ClientRequestToken", "Step") if not isinstance(event.get(k), str)]
        if missing:
            raise RotationError(f"rotation event lacks string field(s) {', '.join(missing)}")
        try:
            step = Step(event["Step"])
        except ValueError:
            known = ", ".join(s.value for s in Step)
            raise RotationError(f"unknown rotation step {event['Step']!r} (known: {known})") from None
        return cls(event["SecretId"], event["ClientRequestToken"], step)


class KeyIssuer(Protocol):
    """Where new exchange keys come from and how old ones are revoked."""

    def issue(self, current: ExchangeCredentials) -> ExchangeCredentials | None:
        """A new key on ``current``'s account, or None when keys are staged by an operator."""
        ...

    def revoke(self, api_key: str) -> bool:
        """Revoke ``api_key`` at the venue; False when only an operator can (then it is logged)."""
        ...


class SimulatorKeyIssuer:
    """Issues and revokes keys through the simulator's admin API (``sim_url`` is its base URL)."""

    def __init__(self, sim_url: str, *, timeout_s: float = 10.0) -> None:
        self._base = sim_url.rstrip("/")
        self._timeout_s = timeout_s

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._base}/_sim/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return int(response.status), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def issue(self, current: ExchangeCredentials) -> ExchangeCredentials:
        status, body = self._request("POST", "keys", {"account_of": current.api_key})
        if status != 200 or not isinstance(body, dict):
            raise RotationError(f"the simulator refused to issue a key (HTTP {status})")
        register_secret(body["api_key"])
        register_secret(body["secret"])
        return ExchangeCredentials(api_key=body["api_key"], secret=body["secret"], version_id=None)

    def revoke(self, api_key: str) -> bool:
        status, _ = self._request("DELETE", f"keys/{urllib.parse.quote(api_key, safe='')}")
        if status not in (200, 404):  # 404: already revoked (a retried revocation)
            raise RotationError(f"the simulator refused to revoke a key (HTTP {status})")
        return True


class StagedKeyIssuer:
    """For venues that issue keys only in their web UI: the operator stages the key under AWSPENDING."""

    def issue(self, current: ExchangeCredentials) -> None:
        return None

    def revoke(self, api_key: str) -> bool:
        log.warning("retired exchange key is due for revocation: revoke it in the venue's web UI")
        return False


ExchangeFactory = Callable[[ExchangeCredentials], "binance"]


def sim_exchange_factory(sim_url: str) -> ExchangeFactory:
    """ccxt exchanges on the simulator."""
    from tradeops.venue.sim_exchange import make_ccxt_exchange

    return lambda c: make_ccxt_exchange(sim_url, c.api_key, c.secret)


def binance_exchange_factory(credentials: ExchangeCredentials) -> binance:
    """A spot ccxt.binance on the real venue."""
    import ccxt.async_support as ccxt_async

    from tradeops.venue.sim_exchange import SPOT_ONLY_OPTIONS

    config = {"apiKey": credentials.api_key, "secret": credentials.secret, "options": dict(SPOT_ONLY_OPTIONS)}
    return ccxt_async.binance(config)


def signed_read_check(factory: ExchangeFactory) -> Callable[[ExchangeCredentials], None]:
    """A testSecret check: ``fetch_balance`` (signed) with the key; raises on any failure."""

    async def check(credentials: ExchangeCredentials) -> None:
        exchange = factory(credentials)
        try:
            await exchange.fetch_balance()
        finally:
            await exchange.close()

    return lambda credentials: asyncio.run(check(credentials))


def revoke_label(revoke_after_s: int) -> str:
    return f"{REVOKE_LABEL_PREFIX}{revoke_after_s}"


class SecretRotator:
    """The four rotation steps (and the revocation sweep) on one Secrets Manager client.

    ``publish`` sends the "Secret Rotated" event (``EventPublisher.publish``). ``require_enabled``
    refuses secrets without rotation enabled (AWS); the embedded stack turns it off because moto can
    only enable rotation by invoking a Lambda, which it cannot run here.
    """

    def __init__(
        self,
        secretsmanager: Any,
        issuer: KeyIssuer,
        verify: Callable[[ExchangeCredentials], None],
        publish: Callable[[EventDetail], None],
        *,
        grace_s: int = DEFAULT_GRACE_S,
        require_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        default_secret_id: str | None = None,
    ) -> None:
        self._sm = secretsmanager
        self._default_secret_id = default_secret_id
        """The secret a ``revokeDue`` event without ``SecretId`` (the hourly schedule) refers to."""
        self._issuer = issuer
        self._verify = verify
        self._publish = publish
        self._grace_s = grace_s
        self._require_enabled = require_enabled
        self._clock = clock

    # ---- entry points ------------------------------------------------------------------------------
    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run one step of a rotation event, after revoking every due retired key."""
        if event.get("Action") == "revokeDue":
            secret_id = event.get("SecretId", self._default_secret_id)
            if not isinstance(secret_id, str):
                raise RotationError("revokeDue event lacks SecretId")
            return {"revoked_versions": self.revoke_due(secret_id)}
        parsed = RotationEvent.parse(event)
        self.revoke_due(parsed.secret_id)
        self.run_step(parsed)
        return {"step": parsed.step.value, "version_id": parsed.token}

    def run_step(self, event: RotationEvent) -> None:
        steps = {
            Step.CREATE: self.create_secret,
            Step.SET: self.set_secret,
            Step.TEST: self.test_secret,
            Step.FINISH: self.finish_secret,
        }
        steps[event.step](event.secret_id, event.token)
        log.info("rotation step done", extra={"step": event.step.value, "version_id": event.token})

    def rotate(self, secret_id: str, token: str) -> None:
        """All four steps in order (the embedded stack, where Secrets Manager cannot invoke a Lambda)."""
        self.revoke_due(secret_id)
        for step in Step:
            self.run_step(RotationEvent(secret_id, token, step))

    # ---- the four steps ----------------------------------------------------------------------------
    def create_secret(self, secret_id: str, token: str) -> None:
        """Put the new key under AWSPENDING with ``token`` as version id, unless it is already there."""
        stages = self._check(secret_id, token, creating=True)
        if CURRENT in stages or self._pending(secret_id, token) is not None:
            return
        current = self._read(secret_id, version_id=None, stage=CURRENT)
        issued = self._issuer.issue(current)
        key = issued if issued is not None else self._adopt_staged(secret_id, token, current)
        value = json.dumps({"apiKey": key.api_key, "secret": key.secret})
        try:
            self._sm.put_secret_value(
                SecretId=secret_id, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING]
            )
        except Exception:
            if issued is not None:  # an issued key nobody can use must not stay valid
                self._issuer.revoke(issued.api_key)
                log.warning("issued key revoked: it could not be stored", extra={"version_id": token})
            raise

    def set_secret(self, secret_id: str, token: str) -> None:
        """Nothing to set: the venue issued (or the operator created) the pending key already."""
        self._check(secret_id, token)

    def test_secret(self, secret_id: str, token: str) -> None:
        """A signed read with the pending key; raises :class:`RotationError` when the venue refuses it."""
        if CURRENT in self._check(secret_id, token):
            return
        pending = self._read(secret_id, version_id=token, stage=PENDING)
        try:
            self._verify(pending)
        except Exception as exc:
            raise RotationError(
                f"testSecret: signed read with pending version {token} of {secret_id} failed: "
                f"{type(exc).__name__}"
            ) from exc

    def finish_secret(self, secret_id: str, token: str) -> None:
        """Promote the token's version, schedule the old key's revocation, publish "Secret Rotated"."""
        self._check(secret_id, token)
        stages = self._versions(secret_id)
        old = next((v for v, labels in stages.items() if CURRENT in labels), None)
        if old != token:
            self._sm.update_secret_version_stage(
                SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=old
            )
            stages = self._versions(secret_id)
        if PENDING in stages.get(token, []):
            self._sm.update_secret_version_stage(
                SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=token
            )
        previous = next((v for v, labels in stages.items() if PREVIOUS in labels and v != token), None)
        if previous is not None and not any(s.startswith(REVOKE_LABEL_PREFIX) for s in stages[previous]):
            label = revoke_label(int(self._clock()) + self._grace_s)
            self._sm.update_secret_version_stage(
                SecretId=secret_id, VersionStage=label, MoveToVersionId=previous
            )
        self._publish(SecretRotated(correlation_id=token, secret_id=secret_id, version_id=token))

    # ---- revocation --------------------------------------------------------------------------------
    def revoke_due(self, secret_id: str) -> list[str]:
        """Revoke the keys of versions whose revoke-after label has passed; returns their version ids."""
        now = self._clock()
        revoked: list[str] = []
        for version, labels in self._versions(secret_id).items():
            for label in labels:
                due = label.removeprefix(REVOKE_LABEL_PREFIX)
                if label == due or not due.isdigit() or int(due) > now:
                    continue
                if CURRENT not in labels and PENDING not in labels:
                    old = self._read(secret_id, version_id=version, stage=label)
                    done = self._issuer.revoke(old.api_key)
                    log.info("retired key revoked", extra={"version_id": version, "at_venue": done})
                    revoked.append(version)
                self._sm.update_secret_version_stage(
                    SecretId=secret_id, VersionStage=label, RemoveFromVersionId=version
                )
        return revoked

    # ---- helpers -----------------------------------------------------------------------------------
    def _versions(self, secret_id: str) -> dict[str, list[str]]:
        stages: dict[str, list[str]] = self._sm.describe_secret(SecretId=secret_id).get(
            "VersionIdsToStages", {}
        )
        return stages

    def _check(self, secret_id: str, token: str, *, creating: bool = False) -> list[str]:
        """AWS's preconditions: rotation enabled, and the token's version staged AWSPENDING (or done)."""
        metadata = self._sm.describe_secret(SecretId=secret_id)
        if self._require_enabled and not metadata.get("RotationEnabled"):
            raise RotationError(f"secret {secret_id} is not enabled for rotation")
        stages: list[str] = metadata.get("VersionIdsToStages", {}).get(token, [])
        if creating and not stages:
            return stages  # no version yet (or AWS's empty placeholder): createSecret makes it
        if not stages:
            raise RotationError(f"secret {secret_id} has no version {token} staged for rotation")
        if CURRENT not in stages and PENDING not in stages:
            raise RotationError(f"version {token} of secret {secret_id} is not staged as AWSPENDING")
        return stages

    def _pending(self, secret_id: str, token: str) -> ExchangeCredentials | None:
        try:
            return self._read(secret_id, version_id=token, stage=PENDING)
        except RotationError:
            return None

    def _adopt_staged(self, secret_id: str, token: str, current: ExchangeCredentials) -> ExchangeCredentials:
        staged = next(
            (v for v, labels in self._versions(secret_id).items() if PENDING in labels and v != token), None
        )
        if staged is None:
            raise RotationError(
                f"secret {secret_id}: no key staged under AWSPENDING "
                "(stage one with `tradeops secrets stage`)"
            )
        key = self._read(secret_id, version_id=staged, stage=PENDING)
        if key.api_key == current.api_key:
            raise RotationError(f"secret {secret_id}: the staged key (version {staged}) is the current key")
        return key

    def _read(self, secret_id: str, *, version_id: str | None, stage: str) -> ExchangeCredentials:
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        try:
            response = self._sm.get_secret_value(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise RotationError(f"cannot read {stage} version {version_id} of {secret_id}: {code}") from exc
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise RotationError(f"{stage} version {version_id} of {secret_id} has no SecretString")
        try:
            credentials = ExchangeCredentials.from_secret_string(text, response.get("VersionId"))
        except CredentialsError as exc:
            raise RotationError(f"{secret_id}: {exc}") from exc
        register_secret(credentials.api_key)
        register_secret(credentials.secret)
        return credentials


def build_rotator(
    settings: Settings,
    *,
    sim_url: str | None,
    grace_s: int = DEFAULT_GRACE_S,
    require_enabled: bool = True,
    staged: bool = False,
) -> SecretRotator:
    """The rotator for ``settings``: simulator keys when ``sim_url`` is set (unless ``staged``), else staged.

    testSecret reads through the simulator when ``sim_url`` is set, else through the real venue.
    """
    from tradeops.aws.clients import client
    from tradeops.aws.events import EventPublisher

    issuer: KeyIssuer = SimulatorKeyIssuer(sim_url) if sim_url and not staged else StagedKeyIssuer()
    factory = sim_exchange_factory(sim_url) if sim_url else binance_exchange_factory
    publisher = EventPublisher(settings, EVENT_SOURCE)
    return SecretRotator(
        client("secretsmanager", settings),
        issuer,
        signed_read_check(factory),
        publisher.publish,
        grace_s=grace_s,
        require_enabled=require_enabled,
        default_secret_id=settings.exchange_secret_id,
    )
