"""``.tradeops/endpoints.json``: where everything of the embedded stack listens, written atomically.

Other tools (tests, the UI, later issues' processes) read it instead of guessing ports. Only running
processes appear: later issues add their keys (``sim``, ``api``, ``ui``, ``gateway_health``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tradeops.config import Settings
from tradeops.local.provision import ProvisionedResources
from tradeops.store.tables import JOURNAL

ENDPOINTS_FILE = "endpoints.json"


def build_endpoints(settings: Settings, resources: ProvisionedResources, **extra: Any) -> dict[str, Any]:
    """The endpoints document; ``extra`` adds keys of other processes (e.g. ``sim="http://..."``)."""
    if settings.aws_endpoint_url is None or resources.cognito is None:
        raise ValueError("endpoints need the moto URL and the provisioned Cognito pool")
    document: dict[str, Any] = {
        "aws": settings.aws_endpoint_url,
        "region": settings.region,
        "account_id": resources.account_id,
        "bus_name": resources.bus_name,
        "tables": dict(resources.tables),
        "buckets": dict(resources.buckets),
        "queues": dict(resources.queues),
        "queue_prefix": settings.queue_prefix,
        "secret_id": resources.secret_id,
        "alarm_topic_arn": resources.alarm_topic_arn,
        "cognito": asdict(resources.cognito),
        "demo_users": [
            {"username": u.username, "password": u.password, "groups": list(u.groups)}
            for u in resources.demo_users
        ],
    }
    document.update(extra)
    return document


def web_endpoints(web_url: str) -> dict[str, str]:
    """The ``ui`` and ``api`` keys for the web server at ``web_url`` (one origin: the API under /api)."""
    base = web_url.rstrip("/")
    return {"ui": base, "api": f"{base}/api"}


def write_endpoints(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (temp file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_endpoints(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as ``TRADEOPS_*`` variables (what a child or a Lambda reads back with ``Settings()``)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"TRADEOPS_{name.upper()}"] = str(value)
    return env


def local_aws_env(settings: Settings) -> dict[str, str]:
    """AWS SDK variables that pin every boto3 client of a child to moto, with dummy credentials."""
    assert settings.aws_endpoint_url is not None
    return {
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def settings_from_endpoints(document: Mapping[str, Any]) -> Settings:
    """The Settings of the embedded stack an endpoints document describes (inverse of build_endpoints)."""
    journal_table = str(document["tables"][JOURNAL.name])
    if not journal_table.endswith(JOURNAL.name):
        raise ValueError(f"unexpected journal table name {journal_table!r} in the endpoints file")
    return Settings(
        aws_endpoint_url=document["aws"],
        region=document["region"],
        table_prefix=journal_table[: -len(JOURNAL.name)],
        bus_name=document["bus_name"],
        worm_bucket=document["buckets"]["worm"],
        reports_bucket=document["buckets"]["reports"],
        exchange_secret_id=document["secret_id"],
        queue_prefix=document.get("queue_prefix", Settings.model_fields["queue_prefix"].default),
    )


def use_embedded_stack(path: Path) -> tuple[Settings, dict[str, Any]] | None:
    """For a command run beside ``tradeops up``: its Settings and endpoints document, or None if not running.

    Also points this process's AWS SDK at moto with dummy credentials, so real ones never reach it.
    """
    if not path.is_file():
        return None
    document = read_endpoints(path)
    settings = settings_from_endpoints(document)
    os.environ.update(local_aws_env(settings))
    return settings, document
