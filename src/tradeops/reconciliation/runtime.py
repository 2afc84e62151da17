"""Wiring one pass for an entry point: credentials from Secrets Manager, a read-only adapter, the service.

On the embedded stack ``sim_url`` (``TRADEOPS_SIM_URL``) points the unmodified ccxt binance at the
simulator; in AWS it is None and the real ``ccxt.binance`` is used. The adapter is always closed.
"""

from __future__ import annotations

import copy

import ccxt.async_support as ccxt_async

from tradeops.config import Settings
from tradeops.reconciliation.service import ReconcileConfig, ReconcileService, RunReport
from tradeops.venue.adapter import ExchangeFactory, VenueAdapter
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import SPOT_ONLY_OPTIONS, make_ccxt_exchange

WEIGHT_LIMIT_PER_MINUTE = 6000
"""Binance's spot request-weight limit; the adapter learns the real one from exchangeInfo."""


def exchange_factory(sim_url: str | None) -> ExchangeFactory:
    """ccxt binance on the simulator when ``sim_url`` is given, else the real one (spot only)."""

    def build(credentials: ExchangeCredentials) -> ccxt_async.binance:
        if sim_url is not None:
            exchange = make_ccxt_exchange(sim_url, credentials.api_key, credentials.secret)
        else:
            config = {
                "apiKey": credentials.api_key,
                "secret": credentials.secret,
                "options": copy.deepcopy(SPOT_ONLY_OPTIONS),
            }
            exchange = ccxt_async.binance(config)
        # ccxt sleeps this long on close() to let TLS connections say goodbye; a read-only pass that ends
        # its invocation has nothing in flight to wait for (it was a quarter of a pass's time).
        exchange.timeout_on_exit = 0
        return exchange

    return build


async def run_pass(
    settings: Settings,
    *,
    sim_url: str | None,
    trigger: str,
    correlation_id: str | None = None,
    config: ReconcileConfig | None = None,
) -> RunReport:
    """One reconciliation pass with a fresh read-only adapter (closed afterwards, success or not)."""
    credentials = CredentialsProvider(settings)
    adapter = VenueAdapter(exchange_factory(sim_url), WeightBudget(WEIGHT_LIMIT_PER_MINUTE), credentials)
    try:
        service = ReconcileService(settings, adapter, config=config)
        return await service.run_once(trigger, correlation_id)
    finally:
        await adapter.close()
