"""boto3 clients bound to the settings' region and endpoint (moto in the embedded stack, AWS otherwise)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from tradeops.aws.botocore_sessions import new_session
from tradeops.config import Settings

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


@lru_cache(maxsize=64)
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    session: Any = boto3.session.Session(botocore_session=new_session())
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=_RETRIES)


def client(service: str, settings: Settings) -> Any:
    """A cached boto3 client for ``service``; thread-safe to share (boto3 clients are)."""
    return _client(service, settings.region, settings.aws_endpoint_url)
