"""Fixtures shared by every test area: an in-memory moto server and settings isolated per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

from tradeops.config import Settings


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server (all services, in memory) on a free loopback port for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_settings(moto_endpoint: str) -> Settings:
    """Settings pointing at the moto server, with resource names unique to this test."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        aws_endpoint_url=moto_endpoint,
        region="us-east-1",
        table_prefix=f"t{tag}-",
        bus_name=f"tradeops-{tag}",
        worm_bucket=f"worm-{tag}",
        reports_bucket=f"reports-{tag}",
        exchange_secret_id=f"tradeops/{tag}/exchange",
        alarm_topic_name=f"alarms-{tag}",
        queue_prefix=f"q{tag}-",
    )
