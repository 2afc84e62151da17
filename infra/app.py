"""The tradeops CDK app: ``.venv/bin/python infra/app.py`` (or ``make synth``) writes ``cdk.out/``.

Stacks: Network, Data, Security, Observability, Functions, Gateway, Web, for the account and region in
CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION (environment-agnostic when unset). Context (cdk.json):
``worm_retention_days`` (Object Lock COMPLIANCE default retention, 2555), and optionally
``pagerduty_url``, ``slack_workspace_id`` + ``slack_channel_id``, ``cognito_domain_prefix`` (hosted UI).
The Web stack deploys ``frontend/dist`` only if it exists: run ``make frontend`` first.
cdk-nag's AwsSolutions pack runs as a validation plugin: a finding that is neither fixed nor
acknowledged with a reason fails the synth.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# `python infra/app.py` puts infra/ first on sys.path, where infra/constructs would shadow the
# `constructs` library: import the app as the `infra` package from the repository root instead.
_INFRA_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _INFRA_DIR]
if str(_INFRA_DIR.parent) not in sys.path:
    sys.path.insert(0, str(_INFRA_DIR.parent))

from aws_cdk import App, Environment, Tags, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.context import DeployContext  # noqa: E402
from infra.stacks.data import DataStack  # noqa: E402
from infra.stacks.functions import FunctionsStack  # noqa: E402
from infra.stacks.gateway import GatewayStack  # noqa: E402
from infra.stacks.network import NetworkStack  # noqa: E402
from infra.stacks.observability import ObservabilityStack  # noqa: E402
from infra.stacks.security import SecurityStack  # noqa: E402
from infra.stacks.web import FRONTEND_DIST, WebStack  # noqa: E402

CDK_JSON = _INFRA_DIR.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json (parameters and feature flags), for apps not started by the CDK CLI."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def build_app(context: dict[str, Any] | None = None, *, nag: bool = True, outdir: str | None = None) -> App:
    """Every stack, unsynthesized. ``context`` overrides cdk.json and the CLI's context.

    ``nag`` registers cdk-nag as a validation plugin (run at synth); tests build without it and call
    ``AwsSolutionsChecks().validate_scope(app)`` themselves.
    """
    app = App(context=cdk_json_context(), post_cli_context=context or {}, outdir=outdir)
    deploy = DeployContext.of(app)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None

    network = NetworkStack(app, "TradeopsNetwork", env=env, description="tradeops VPC and endpoints")
    data = DataStack(
        app,
        "TradeopsData",
        env=env,
        worm_retention_days=deploy.worm_retention_days,
        description="tradeops tables, WORM journal archive, reports",
    )
    security = SecurityStack(app, "TradeopsSecurity", env=env, description="tradeops secret and operators")
    observability = ObservabilityStack(
        app, "TradeopsObservability", env=env, context=deploy, description="tradeops alarm topic and paging"
    )
    functions = FunctionsStack(
        app,
        "TradeopsFunctions",
        env=env,
        data=data,
        exchange_secret=security.exchange_secret,
        secret_key=security.secret_key,
        alarm_topic=observability.alarm_topic,
        description="tradeops event bus, queues, functions, rules and schedules",
    )
    GatewayStack(
        app,
        "TradeopsGateway",
        env=env,
        vpc=network.vpc,
        data=data,
        bus=functions.bus,
        intents_queue=functions.queues["intents"],
        queue_key=functions.queue_key,
        exchange_secret=security.exchange_secret,
        secret_key=security.secret_key,
        alarm_topic=observability.alarm_topic,
        description="tradeops gateway (ECS Fargate, active + standby)",
    )
    WebStack(
        app,
        "TradeopsWeb",
        env=env,
        data=data,
        bus=functions.bus,
        user_pool=security.user_pool,
        frontend_dist=FRONTEND_DIST if FRONTEND_DIST.is_dir() else None,
        description="tradeops operator API (API Gateway + Lambda) and UI (S3 + CloudFront)",
    )
    Tags.of(app).add("project", "tradeops")
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app(outdir=os.environ.get("CDK_OUTDIR") or str(_INFRA_DIR.parent / "cdk.out")).synth()
