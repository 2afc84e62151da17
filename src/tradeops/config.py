"""Typed settings, read once at the edge (entry points) and passed inward.

Every value comes from ``TRADEOPS_*`` environment variables. In AWS the CDK stacks set them on each
Lambda and on the gateway task; the embedded stack (``tradeops up``) sets them for its children and
writes the same facts to ``.tradeops/endpoints.json``.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from tradeops.store.tables import TableSpec


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEOPS_", extra="ignore")

    region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    """Set to the moto server's URL in the embedded stack; None in AWS."""
    table_prefix: str = "tradeops-"
    bus_name: str = "tradeops"
    worm_bucket: str = "tradeops-journal-archive"
    reports_bucket: str = "tradeops-reports"
    exchange_secret_id: str = "tradeops/exchange/binance"
    alarm_topic_name: str = "tradeops-alarms"
    queue_prefix: str = "tradeops-"
    """Prefix of every SQS queue name (tests isolate themselves on one moto server with their own)."""
    account: str = "main"
    """The trading account the positions and balances belong to."""

    def table_name(self, spec: TableSpec) -> str:
        return spec.physical_name(self.table_prefix)

    def queue_name(self, logical: str) -> str:
        return f"{self.queue_prefix}{logical}"
