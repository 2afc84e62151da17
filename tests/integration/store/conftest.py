"""Store integration fixtures: every table provisioned on the session's moto server, per-test prefix."""

from __future__ import annotations

from typing import Any

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.store.provision import create_tables


@pytest.fixture
def store_settings(aws_settings: Settings) -> Settings:
    """Settings whose (uniquely prefixed) tables all exist and are ACTIVE."""
    create_tables(aws_settings)
    return aws_settings


@pytest.fixture
def dynamodb(store_settings: Settings) -> Any:
    """A raw boto3 DynamoDB client on the same server, for tampering and for asserting stored bytes."""
    return client("dynamodb", store_settings)
