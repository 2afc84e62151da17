"""Exchange API credentials from Secrets Manager (``{"apiKey", "secret"}``), registered for log scrubbing."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.observability import MIN_SECRET_LENGTH, register_secret


class CredentialsError(RuntimeError):
    """The secret is missing, unreadable or not ``{"apiKey": str, "secret": str}`` (no values shown)."""


@dataclass(frozen=True)
class ExchangeCredentials:
    """One version of the exchange key pair; ``repr`` never shows either value."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    version_id: str | None

    def __post_init__(self) -> None:
        for name in ("api_key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                raise CredentialsError(f"{name} must be a string of at least {MIN_SECRET_LENGTH} characters")

    @classmethod
    def from_secret_string(cls, text: str, version_id: str | None) -> ExchangeCredentials:
        """Parse a ``SecretString``; the error names the problem, never the content."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            raise CredentialsError(f"secret version {version_id} is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"secret version {version_id} is not a JSON object")
        missing = [k for k in ("apiKey", "secret") if not isinstance(data.get(k), str) or not data[k]]
        if missing:
            raise CredentialsError(f"secret version {version_id} lacks string field(s) {', '.join(missing)}")
        return cls(api_key=data["apiKey"], secret=data["secret"], version_id=version_id)


class CredentialsProvider:
    """Reads the exchange secret (``settings.exchange_secret_id``) and keeps the current version.

    Both values are registered with :func:`register_secret` before they are returned, so they never
    reach a log line.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret_id = settings.exchange_secret_id
        self._lock = threading.Lock()
        self._current: ExchangeCredentials | None = None

    @property
    def current(self) -> ExchangeCredentials:
        """The last loaded credentials (loads AWSCURRENT on first use)."""
        with self._lock:
            current = self._current
        return current if current is not None else self.load()

    def load(self) -> ExchangeCredentials:
        """Fetch the AWSCURRENT version (blocking boto3 call) and make it current."""
        sm = clients.client("secretsmanager", self._settings)
        try:
            response = sm.get_secret_value(SecretId=self._secret_id, VersionStage="AWSCURRENT")
        except Exception as exc:  # botocore ClientError, endpoint errors: say which secret, keep the cause
            raise CredentialsError(f"cannot read secret {self._secret_id}: {type(exc).__name__}") from exc
        text = response.get("SecretString")
        version_id = response.get("VersionId")
        if not isinstance(text, str):
            raise CredentialsError(f"secret {self._secret_id} version {version_id} has no SecretString")
        credentials = ExchangeCredentials.from_secret_string(text, version_id)
        register_secret(credentials.api_key)
        register_secret(credentials.secret)
        with self._lock:
            self._current = credentials
        return credentials

    async def reload(self) -> ExchangeCredentials:
        """Fetch the current version without blocking the event loop."""
        return await asyncio.to_thread(self.load)
