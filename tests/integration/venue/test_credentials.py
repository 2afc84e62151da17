"""CredentialsProvider against Secrets Manager on moto: AWSCURRENT, reload, validation, scrubbing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.observability import get_logger
from tradeops.venue.credentials import CredentialsError, CredentialsProvider

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_loads_awscurrent_and_reload_follows_rotation(
    aws_settings: Settings, secret_store: Callable[[str, str], str]
) -> None:
    first = secret_store("cred-key-0001", "cred-secret-0001-abcdefgh")
    provider = CredentialsProvider(aws_settings)
    current = provider.current
    assert (current.api_key, current.secret, current.version_id) == (
        "cred-key-0001",
        "cred-secret-0001-abcdefgh",
        first,
    )
    second = secret_store("cred-key-0002", "cred-secret-0002-abcdefgh")
    assert provider.current.version_id == first  # cached until told to reload
    assert provider.load().version_id == second and provider.current.api_key == "cred-key-0002"


async def test_async_reload(aws_settings: Settings, secret_store: Callable[[str, str], str]) -> None:
    version = secret_store("cred-key-0003", "cred-secret-0003-abcdefgh")
    loaded = await CredentialsProvider(aws_settings).reload()
    assert loaded.version_id == version


def test_values_never_reach_a_log_or_a_repr(
    aws_settings: Settings, secret_store: Callable[[str, str], str]
) -> None:
    secret_store("cred-key-0004-log", "cred-secret-0004-never-logged")
    credentials = CredentialsProvider(aws_settings).load()
    assert "cred-secret-0004" not in repr(credentials) and "cred-key-0004" not in repr(credentials)
    stream = io.StringIO()
    log = get_logger("tradeops.test.venue.credentials", stream=stream)
    log.info(f"using {credentials.api_key} / {credentials.secret}", extra={"note": credentials.secret})
    text = stream.getvalue()
    assert "cred-key-0004-log" not in text and "cred-secret-0004-never-logged" not in text
    assert "***" in text


@pytest.mark.parametrize(
    ("secret_string", "message"),
    [
        ("not json", "is not JSON"),
        ('["a"]', "not a JSON object"),
        ('{"apiKey": "cred-key-0005"}', "lacks string field"),
        ('{"apiKey": 5, "secret": "cred-secret-0005-abcdefgh"}', "lacks string field"),
        ('{"apiKey": "short", "secret": "cred-secret-0005-abcdefgh"}', "at least 8"),
    ],
)
def test_malformed_secret_is_refused_without_showing_it(
    aws_settings: Settings, secret_string: str, message: str
) -> None:
    sm = clients.client("secretsmanager", aws_settings)
    sm.create_secret(Name=aws_settings.exchange_secret_id, SecretString=secret_string)
    with pytest.raises(CredentialsError, match=message) as info:
        CredentialsProvider(aws_settings).load()
    assert "cred-secret-0005" not in str(info.value)


def test_missing_secret_names_the_secret(aws_settings: Settings) -> None:
    with pytest.raises(CredentialsError, match=aws_settings.exchange_secret_id):
        CredentialsProvider(aws_settings).load()


def test_binary_secret_is_refused(aws_settings: Settings) -> None:
    sm = clients.client("secretsmanager", aws_settings)
    sm.create_secret(Name=aws_settings.exchange_secret_id, SecretBinary=json.dumps({"apiKey": "x"}).encode())
    with pytest.raises(CredentialsError, match="no SecretString"):
        CredentialsProvider(aws_settings).load()
