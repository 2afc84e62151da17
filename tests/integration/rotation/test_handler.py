"""The rotate_secret Lambda entry point driven as Secrets Manager drives it, on moto and the simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from botocore.exceptions import ClientError

from tradeops.aws import clients
from tradeops.aws.rotation import RotationError
from tradeops.config import Settings
from tradeops.local.lambda_context import make_context
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.sim.server import RunningSim

from .conftest import API_KEY, current_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
HANDLER_PATH = Path(__file__).resolve().parents[3] / "functions" / "rotate_secret" / "handler.py"


def _load_module() -> ModuleType:
    """Import the handler file the way the Lambda runtime does: a fresh top-level module."""
    spec = importlib.util.spec_from_file_location(f"rotate_secret_{uuid.uuid4().hex[:8]}", HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_rotation(settings: Settings, token: str) -> None:
    """What RotateSecret does before invoking the function: enable rotation, stage an empty AWSPENDING.

    moto does both, then fails to find the Lambda (it cannot run one): that error is expected.
    """
    with pytest.raises(ClientError, match="Resource not found for ARN"):
        clients.client("secretsmanager", settings).rotate_secret(
            SecretId=settings.exchange_secret_id,
            ClientRequestToken=token,
            RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:tradeops-rotate_secret",
            RotationRules={"AutomaticallyAfterDays": 30},
        )


async def test_the_four_invocations_rotate_and_a_later_one_revokes(
    sim: RunningSim, exchange_secret: Settings
) -> None:
    module = _load_module()
    environ = {"TRADEOPS_SIM_URL": sim.url, "ROTATION_REVOKE_GRACE_S": "1"}
    handler = module.make_handler(exchange_secret, environ)
    context = make_context(FUNCTIONS_BY_NAME["rotate_secret"], region="us-east-1", account_id="123456789012")
    token = str(uuid.uuid4())
    await asyncio.to_thread(_start_rotation, exchange_secret, token)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event = {"SecretId": exchange_secret.exchange_secret_id, "ClientRequestToken": token, "Step": step}
        result = await asyncio.to_thread(handler, event, context)
        assert result == {"step": step, "version_id": token}
    new = current_key(exchange_secret)
    issued = sim.venue.keys()  # the old key stays valid through the grace period
    assert new["apiKey"] != API_KEY and API_KEY in issued
    await asyncio.sleep(1.1)
    sweep = {"Action": "revokeDue", "SecretId": exchange_secret.exchange_secret_id}
    assert len((await asyncio.to_thread(handler, sweep, context))["revoked_versions"]) == 1
    remaining = sim.venue.keys()
    assert API_KEY not in remaining and new["apiKey"] in remaining


async def test_a_secret_without_rotation_enabled_is_refused(
    sim: RunningSim, exchange_secret: Settings
) -> None:
    handler = _load_module().make_handler(exchange_secret, {"TRADEOPS_SIM_URL": sim.url})
    context = make_context(FUNCTIONS_BY_NAME["rotate_secret"], region="us-east-1", account_id="123456789012")
    event = {"SecretId": exchange_secret.exchange_secret_id, "ClientRequestToken": str(uuid.uuid4())}
    with pytest.raises(RotationError, match="is not enabled for rotation"):
        await asyncio.to_thread(handler, {**event, "Step": "createSecret"}, context)
    assert current_key(exchange_secret)["apiKey"] == API_KEY
