"""A strategy allocation approved through change management (control table) overrides the limits' one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from tradeops.domain.limits import RiskLimits
from tradeops.domain.risk import Approved, Denied, DenyReason, OrderRequest, RiskContext, check


def test_the_control_allocation_overrides_the_limits_allocation(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    assert isinstance(check(request_, context, limits), Approved)
    tight = replace(context, strategy_allocations={request_.strategy: D(1)})
    decision = check(request_, tight, limits)
    assert isinstance(decision, Denied) and (decision.reason, decision.limit) == (
        DenyReason.STRATEGY_ALLOCATION,
        D(1),
    )
    other = replace(context, strategy_allocations={"someone-else": D(1)})
    assert isinstance(check(request_, other, limits), Approved)
