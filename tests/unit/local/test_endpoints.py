"""endpoints.json: its content, atomic writes, and settings passed to children as TRADEOPS_* variables."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tradeops.config import Settings
from tradeops.local.endpoints import build_endpoints, read_endpoints, settings_env, write_endpoints
from tradeops.local.provision import CognitoResources, DemoUser, ProvisionedResources

COGNITO = CognitoResources(
    user_pool_id="us-east-1_abc",
    client_id="client",
    jwks_url="http://127.0.0.1:4700/us-east-1_abc/.well-known/jwks.json",
    issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
)
RESOURCES = ProvisionedResources(
    account_id="123456789012",
    bus_name="tradeops",
    bus_arn="arn:aws:events:us-east-1:123456789012:event-bus/tradeops",
    tables={"journal": "tradeops-journal"},
    buckets={"worm": "w", "reports": "r"},
    queues={"intents": "http://127.0.0.1:4700/123456789012/tradeops-intents"},
    secret_id="tradeops/exchange/binance",
    alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:tradeops-alarms",
    cognito=COGNITO,
    demo_users=(DemoUser("trader@tradeops.example", "pw-Aa1-xxxxxxxx", ("trader",)),),
)
SETTINGS = Settings(aws_endpoint_url="http://127.0.0.1:4700")


def test_document_has_every_key_and_no_placeholders() -> None:
    document = build_endpoints(SETTINGS, RESOURCES)
    assert set(document) == {
        "aws",
        "region",
        "account_id",
        "bus_name",
        "tables",
        "buckets",
        "queues",
        "queue_prefix",
        "secret_id",
        "alarm_topic_arn",
        "cognito",
        "demo_users",
    }
    assert document["aws"] == "http://127.0.0.1:4700"
    assert document["cognito"] == {
        "user_pool_id": "us-east-1_abc",
        "client_id": "client",
        "jwks_url": COGNITO.jwks_url,
        "issuer": COGNITO.issuer,
    }
    assert document["demo_users"] == [
        {"username": "trader@tradeops.example", "password": "pw-Aa1-xxxxxxxx", "groups": ["trader"]}
    ]


def test_extra_processes_add_their_keys() -> None:
    assert build_endpoints(SETTINGS, RESOURCES, sim="http://127.0.0.1:4701")["sim"] == "http://127.0.0.1:4701"


def test_needs_the_moto_url() -> None:
    with pytest.raises(ValueError, match="moto URL"):
        build_endpoints(Settings(), RESOURCES)


def test_write_is_atomic_private_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "state" / "endpoints.json"
    write_endpoints(path, {"aws": "one"})
    write_endpoints(path, {"aws": "two"})
    assert read_endpoints(path) == {"aws": "two"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["endpoints.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    write_endpoints(path, {"aws": "one"})
    with pytest.raises(TypeError):
        write_endpoints(path, {"aws": object()})
    assert read_endpoints(path) == {"aws": "one"}
    assert [p.name for p in tmp_path.iterdir()] == ["endpoints.json"]


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(aws_endpoint_url="http://127.0.0.1:4700", bus_name="bus-x", table_prefix="p-")
    env = settings_env(settings)
    assert env["TRADEOPS_AWS_ENDPOINT_URL"] == "http://127.0.0.1:4700"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_settings_from_endpoints_is_the_inverse_of_the_document(tmp_path: Path) -> None:
    from tradeops.local.endpoints import settings_from_endpoints, use_embedded_stack

    document = {
        "aws": "http://127.0.0.1:4700",
        "region": "eu-west-1",
        "bus_name": "tradeops",
        "tables": {"journal": "tx-journal", "orders": "tx-orders"},
        "buckets": {"worm": "w", "reports": "r"},
        "secret_id": "tradeops/exchange/binance",
        "sim": "http://127.0.0.1:4701",
    }
    settings = settings_from_endpoints(document)
    assert (settings.aws_endpoint_url, settings.region, settings.table_prefix) == (
        "http://127.0.0.1:4700",
        "eu-west-1",
        "tx-",
    )
    assert (settings.worm_bucket, settings.reports_bucket, settings.exchange_secret_id) == (
        "w",
        "r",
        "tradeops/exchange/binance",
    )
    with pytest.raises(ValueError, match="unexpected journal table name"):
        settings_from_endpoints({**document, "tables": {"journal": "elsewhere"}})
    assert use_embedded_stack(tmp_path / "absent.json") is None


def test_a_command_beside_the_stack_gets_dummy_credentials_never_real_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradeops.local.endpoints import use_embedded_stack

    monkeypatch.setattr(os, "environ", {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAREALKEYDONOTSEND"})
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {
                "aws": "http://127.0.0.1:4700",
                "region": "us-east-1",
                "bus_name": "b",
                "tables": {"journal": "tradeops-journal"},
                "buckets": {"worm": "w", "reports": "r"},
                "secret_id": "s",
            }
        )
    )
    embedded = use_embedded_stack(path)
    assert embedded is not None and embedded[0].aws_endpoint_url == "http://127.0.0.1:4700"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4700"
