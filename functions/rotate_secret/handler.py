"""Lambda entry point of ``rotate_secret``: Secrets Manager rotation of the exchange key.

Secrets Manager invokes it four times per rotation (createSecret, setSecret, testSecret, finishSecret;
see :mod:`tradeops.aws.rotation`); ``{"Action": "revokeDue"}`` (the hourly schedule; ``SecretId``
defaults to the exchange-key secret) only revokes retired keys whose grace period has passed. Keys come
from the simulator when ``TRADEOPS_SIM_URL`` is set (the embedded stack), otherwise an operator stages
them (``tradeops secrets stage``). The grace period before an old key is revoked is
``ROTATION_REVOKE_GRACE_S`` seconds. Failures raise: Secrets Manager retries the step and the
function's error alarm pages; AWSCURRENT only ever moves in finishSecret.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from tradeops.aws.rotation import DEFAULT_GRACE_S, build_rotator
from tradeops.config import Settings
from tradeops.observability import correlation_scope, get_logger

SERVICE = "rotate_secret"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(settings: Settings, environ: Mapping[str, str] = os.environ) -> Handler:
    """Build the handler (once per cold start by the module-level ``handler``)."""
    logger = get_logger(SERVICE)
    rotator = build_rotator(
        settings,
        sim_url=environ.get("TRADEOPS_SIM_URL") or None,
        grace_s=int(environ.get("ROTATION_REVOKE_GRACE_S", DEFAULT_GRACE_S)),
    )

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        token = event.get("ClientRequestToken")
        with correlation_scope(token if isinstance(token, str) else None):
            logger.info("rotation event", extra={"step": event.get("Step") or event.get("Action")})
            return rotator.handle(event)

    return handler


handler = make_handler(Settings())
