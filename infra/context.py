"""Deployment parameters (CDK context) and the ``TRADEOPS_*`` environment every runtime receives.

Resource names come from :class:`tradeops.config.Settings` defaults, never from the synthesizing
shell's environment, so a developer with the embedded stack's variables exported synthesizes the same
template as CI. Buckets are named by CloudFormation (S3 names are global) and passed by value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from tradeops.config import Settings

NAMES = Settings.model_construct()
"""The contract's default names (table prefix, bus, secret id, alarm topic, ...)."""

_ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
_LOCAL_ONLY = frozenset({"aws_endpoint_url"})


@dataclass(frozen=True)
class DeployContext:
    """The context parameters of cdk.json, validated once."""

    worm_retention_days: int
    pagerduty_url: str | None
    slack_workspace_id: str | None
    slack_channel_id: str | None

    @classmethod
    def of(cls, scope: Construct) -> DeployContext:
        node = scope.node
        days = node.try_get_context("worm_retention_days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ValueError(f"context worm_retention_days must be a positive integer, got {days!r}")
        pagerduty = _optional(node.try_get_context("pagerduty_url"), "pagerduty_url")
        if pagerduty is not None and not pagerduty.startswith("https://"):
            raise ValueError("context pagerduty_url must be an https:// URL")
        workspace = _optional(node.try_get_context("slack_workspace_id"), "slack_workspace_id")
        channel = _optional(node.try_get_context("slack_channel_id"), "slack_channel_id")
        if (workspace is None) != (channel is None):
            raise ValueError("context slack_workspace_id and slack_channel_id must be given together")
        return cls(days, pagerduty, workspace, channel)


def _optional(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"context {name} must be a string, got {value!r}")
    return value


def runtime_environment(**overrides: str) -> dict[str, str]:
    """``TRADEOPS_<FIELD>`` for every Settings field (defaults unless overridden), AWS endpoint unset.

    Overrides carry values only known at deploy time (region, bucket names); an unknown field name is
    a programming error and fails the synth.
    """
    unknown = set(overrides) - set(Settings.model_fields)
    if unknown:
        raise KeyError(f"not Settings fields: {sorted(unknown)}")
    env: dict[str, str] = {}
    for field in Settings.model_fields:
        if field in _LOCAL_ONLY:
            continue
        value = overrides.get(field, getattr(NAMES, field))
        if value is not None:
            env[f"{_ENV_PREFIX}{field}".upper()] = str(value)
    return env


def construct_name(logical: str) -> str:
    """A construct id from a logical name: ``limit_proposals`` -> ``LimitProposals``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", logical) if part)
