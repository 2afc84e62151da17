"""Request bodies and query strings of the operator API (pydantic): the validation and the OpenAPI schema.

Amounts are decimal strings (``DecimalStr`` of the event schemas: floats are refused). Bodies refuse
unknown fields; query strings ignore unknown parameters (cache busters) but validate the known ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from tradeops.domain.alerts import AlertStatus
from tradeops.domain.control import TradingState
from tradeops.domain.event_fields import DecimalStr, NonNegativeDecimal, PositiveDecimal, Symbol
from tradeops.domain.orders import OrderState
from tradeops.store.proposals import ProposalStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
EpochMs = Annotated[int, Field(ge=0, le=10**14)]
PageLimit = Annotated[int, Field(ge=1, le=500)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class LoginBody(Body):
    username: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class OrderBody(Body):
    """A manual order: published as a Trade Intent (strategy ``manual``) through the normal risk path."""

    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: PositiveDecimal
    limit_price: PositiveDecimal | None = None
    time_in_force: Literal["GTC", "IOC", "FOK"] | None = None
    stop_loss: PositiveDecimal | None = None
    take_profit: PositiveDecimal | None = None


class KillSwitchBody(Body):
    reason: Text
    flatten: StrictBool = False


class TradingStateBody(Body):
    state: TradingState
    reason: Text


class StrategyPatchBody(Body):
    enabled: StrictBool | None = None
    allocation: NonNegativeDecimal | None = None
    reason: Text


class LimitProposalBody(Body):
    scope: Name = "global"
    changes: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], DecimalStr],
        Field(min_length=1, max_length=100),
    ]
    reason: Text


class RejectBody(Body):
    note: Text


class AckBody(Body):
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""


class ResolveBody(Body):
    reason: Text


class PageQuery(Query):
    cursor: Cursor | None = None
    limit: PageLimit = 100


class OrdersQuery(PageQuery):
    status: OrderState | None = None
    symbol: Symbol | None = None
    from_: EpochMs | None = Field(None, alias="from")
    to: EpochMs | None = None


class TradesQuery(PageQuery):
    symbol: Symbol | None = None
    from_: EpochMs | None = Field(None, alias="from")
    to: EpochMs | None = None


class HistoryQuery(PageQuery):
    from_: EpochMs | None = Field(None, alias="from")
    to: EpochMs | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 500


class ProposalsQuery(PageQuery):
    status: ProposalStatus = ProposalStatus.PENDING


class AlertsQuery(PageQuery):
    status: AlertStatus | None = None


class JournalQuery(Query):
    stream: Name | None = None
    from_seq: Annotated[int, Field(ge=1, le=10**12)] = 1
    limit: PageLimit = 100


class AuditQuery(Query):
    stream: Name | None = None
