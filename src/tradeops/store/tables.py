"""Every DynamoDB table, defined once.

CDK (infra/), the embedded provisioning (tradeops.local) and the pynamodb models all read these
specs, so a table's keys, indexes, TTL and stream can never disagree between AWS and a laptop.
Physical names are ``<prefix><logical name>`` with the prefix from settings (default ``tradeops-``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AttrType(StrEnum):
    S = "S"
    N = "N"


@dataclass(frozen=True)
class Key:
    name: str
    type: AttrType = AttrType.S


@dataclass(frozen=True)
class Index:
    name: str
    partition: Key
    sort: Key | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    partition: Key
    sort: Key | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    stream: bool = False
    append_only: bool = False
    doc: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def key_attributes(self) -> dict[str, AttrType]:
        """Every attribute used as a key of the table or of an index, with its type."""
        keys = [self.partition, self.sort]
        for index in self.indexes:
            keys += [index.partition, index.sort]
        return {k.name: k.type for k in keys if k is not None}


JOURNAL = TableSpec(
    "journal",
    Key("stream"),
    Key("seq", AttrType.N),
    stream=True,
    append_only=True,
    doc="Hash-chained append-only journal; conditional puts only; streamed to the WORM archive.",
)
ORDERS = TableSpec(
    "orders",
    Key("client_order_id"),
    indexes=(
        Index("by_status", Key("status"), Key("updated_at", AttrType.N)),
        Index("by_symbol", Key("symbol"), Key("created_at", AttrType.N)),
    ),
    doc="Order projection, one item per client order id (the gateway is the only writer).",
)
FILLS = TableSpec(
    "fills",
    Key("client_order_id"),
    Key("trade_key"),
    indexes=(Index("by_symbol", Key("symbol"), Key("ts", AttrType.N)),),
    doc="Fills keyed by venue trade id (trade_key = '<symbol>#<trade id>'), so duplicates collapse.",
)
POSITIONS = TableSpec("positions", Key("account"), Key("symbol"), doc="Position per account and symbol.")
BALANCES = TableSpec("balances", Key("account"), Key("asset"), doc="Venue balances per asset.")
CONTROL = TableSpec("control", Key("key"), doc="Trading state, strategy flags and allocations.")
LIMITS = TableSpec(
    "limits", Key("scope"), Key("version", AttrType.N), doc="Versioned risk limits; only approved versions."
)
LIMIT_PROPOSALS = TableSpec(
    "limit_proposals",
    Key("proposal_id"),
    indexes=(Index("by_status", Key("status"), Key("created_at", AttrType.N)),),
    doc="Four-eyes change proposals (limits, strategies, resume after kill switch).",
)
ALERTS = TableSpec(
    "alerts",
    Key("alert_id"),
    indexes=(Index("by_status", Key("status"), Key("updated_at", AttrType.N)),),
    doc="Operator alerts: open -> acked -> resolved, deduplicated by source and key.",
)
SNAPSHOTS = TableSpec(
    "snapshots",
    Key("account"),
    Key("ts", AttrType.N),
    ttl_attribute="expires_at",
    doc="Portfolio snapshots (equity, PnL, exposure) every second; expire by TTL.",
)
LEASES = TableSpec("leases", Key("lease_name"), doc="Single-active leases with monotonic fencing tokens.")
RECON_RUNS = TableSpec(
    "recon_runs",
    Key("account"),
    Key("started_at", AttrType.N),
    doc="Reconciliation runs: start, end, counts by break class, outcome.",
)
RECON_BREAKS = TableSpec(
    "recon_breaks",
    Key("break_id"),
    indexes=(Index("by_status", Key("status"), Key("updated_at", AttrType.N)),),
    doc="Reconciliation breaks (stable ids): open -> applied | resolved by an operator with a reason.",
)
IDEMPOTENCY = TableSpec(
    "idempotency",
    Key("id"),
    ttl_attribute="expiration",
    doc="aws-lambda-powertools idempotency records.",
)
ACCOUNTS = TableSpec(
    "accounts",
    Key("account"),
    doc="Accounts registry: the versioned KYC record (status, expiry) of each trading account.",
)

TABLES: tuple[TableSpec, ...] = (
    JOURNAL,
    ORDERS,
    FILLS,
    POSITIONS,
    BALANCES,
    CONTROL,
    LIMITS,
    LIMIT_PROPOSALS,
    ALERTS,
    SNAPSHOTS,
    LEASES,
    RECON_RUNS,
    RECON_BREAKS,
    IDEMPOTENCY,
    ACCOUNTS,
)

TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}
