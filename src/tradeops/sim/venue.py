"""SimVenue: the facade the simulator server drives (market model, trading, accounts, admin).

Not thread-safe: one asyncio loop calls it. Every method either returns Binance's JSON (dicts and lists
of str/int/bool) or raises `SimError`; any other exception is a bug. Determinism: with the same seed and
the same sequence of calls, prices, trades and ids are the same; the clock only affects timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tradeops.sim import formats, marketdata, oco, trading
from tradeops.sim.config import SimConfig
from tradeops.sim.engine import Engine
from tradeops.sim.errors import SimError
from tradeops.sim.market import SymbolState

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class VenueEvent:
    """One stream message: a market channel (`btcusdt@trade`, ...) or `user` with the api key it is for."""

    channel: str
    payload: dict[str, Any]
    api_key: str | None


class SimVenue:
    """A Binance-spot-compatible venue in pure, synchronous, deterministic Python."""

    def __init__(self, config: SimConfig, clock: Callable[[], int]) -> None:
        config.validate()
        self.config = config
        self._clock = clock
        self._listeners: list[Callable[[VenueEvent], None]] = []
        self.engine = Engine(config, clock, self._emit)

    # ---- events -------------------------------------------------------------------------------------
    def listen(self, callback: Callable[[VenueEvent], None]) -> None:
        self._listeners.append(callback)

    def _emit(self, channel: str, payload: dict[str, Any], api_key: str | None) -> None:
        if self._listeners:
            event = VenueEvent(channel, payload, api_key)
            for callback in self._listeners:
                callback(event)

    # ---- market model -------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance every symbol by one tick: move, re-quote, cross resting orders, print trades, publish."""
        engine = self.engine
        cfg = self.config
        now = self._clock()
        for st in engine.symbols.values():
            st.model.advance()
            st.requote(engine.rng, cfg.book_depth)
            engine.cross(st)
            engine.background(st, cfg.trades_per_step)
            engine.run_stops(st)
            marketdata.publish(engine, st, now)
        engine.flush_accounts()

    def set_price(
        self,
        symbol: str,
        price: Decimal | None = None,
        jump_pct: Decimal | None = None,
        regime: str | None = None,
    ) -> dict[str, Any]:
        """Admin: move a mid now (absolute or by percent) and/or set its volatility regime."""
        st = self._admin_symbol(symbol)
        model = st.model
        if regime is not None:
            model.set_regime(regime)
        old = model.mid
        try:
            if price is not None:
                new = Decimal(price)
                if not new.is_finite() or new <= 0:
                    raise SimError(-1130, "price must be a positive number")
                model.set(new)
            if jump_pct is not None:
                pct = Decimal(jump_pct)
                if not pct.is_finite() or pct <= -100:
                    raise SimError(-1130, "jump_pct must be a number above -100")
                model.set(model.mid * (1 + pct / 100))
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise SimError(-1130, "price and jump_pct must be decimal numbers") from exc
        engine = self.engine
        if model.mid != old:
            st.requote(engine.rng, self.config.book_depth)
            engine.cross(st)
            engine.background(st, 1, 1 if model.mid > old else -1)
            engine.run_stops(st)
        marketdata.publish(engine, st, self._clock())
        engine.flush_accounts()
        return {
            "symbol": st.venue_id,
            "mid": formats.fmt(model.mid),
            "lastPrice": formats.fmt(st.tape.last_price),
            "regime": model.regime,
        }

    def _admin_symbol(self, symbol: str) -> SymbolState:
        if not isinstance(symbol, str):
            raise SimError(-1121, "Invalid symbol.")
        st = self.engine.symbols.get(symbol.replace("/", "").upper())
        if st is None:
            raise SimError(-1121, "Invalid symbol.")
        return st

    # ---- market data --------------------------------------------------------------------------------
    def server_time(self) -> int:
        return self._clock()

    def exchange_info(self, symbol: str | None = None) -> dict[str, Any]:
        return marketdata.exchange_info(self.engine, symbol, self._clock())

    def depth(self, symbol: str, limit: int | str | None = None) -> dict[str, Any]:
        return marketdata.depth(self.engine, symbol, limit)

    def ticker_24h(self, symbol: str | None = None) -> dict[str, Any] | list[dict[str, Any]]:
        now = self._clock()
        if symbol:
            return marketdata.ticker(trading.symbol_state(self.engine, symbol), now)
        return [marketdata.ticker(st, now) for st in self.engine.symbols.values()]

    def book_ticker(self, symbol: str | None = None) -> dict[str, Any] | list[dict[str, Any]]:
        if symbol:
            return marketdata.book_ticker(trading.symbol_state(self.engine, symbol))
        return [marketdata.book_ticker(st) for st in self.engine.symbols.values()]

    def recent_trades(self, symbol: str, limit: int | str | None = None) -> list[dict[str, Any]]:
        return marketdata.recent_trades(self.engine, symbol, limit)

    def klines(
        self,
        symbol: str,
        interval: str,
        start_time: int | str | None = None,
        end_time: int | str | None = None,
        limit: int | str | None = None,
    ) -> list[list[object]]:
        return marketdata.klines(self.engine, symbol, interval, start_time, end_time, limit)

    # ---- keys ---------------------------------------------------------------------------------------
    def add_key(
        self,
        api_key: str,
        secret: str,
        balances: dict[str, Decimal] | None = None,
        account_of: str | None = None,
    ) -> None:
        """A new account with `balances` (default: config.default_balances), or a key of `account_of`'s."""
        if account_of is not None and balances is not None:
            raise SimError(-1128, "balances and account_of are exclusive")
        try:
            initial = {str(a): Decimal(v) for a, v in (balances or self.config.default_balances).items()}
        except (InvalidOperation, TypeError, ValueError, AttributeError) as exc:
            raise SimError(-1130, "balances must map asset names to decimal amounts") from exc
        if any(not v.is_finite() or v < 0 for v in initial.values()):
            raise SimError(-1130, "balances must be finite and not negative")
        self.engine.keys.add(api_key, secret, initial, account_of)

    def revoke_key(self, api_key: str) -> None:
        self.engine.keys.revoke(api_key)

    def secret_for(self, api_key: str) -> str | None:
        return self.engine.keys.secrets.get(api_key)

    def keys(self) -> list[str]:
        return list(self.engine.keys.secrets)

    # ---- trading ------------------------------------------------------------------------------------
    def new_order(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        return trading.new_order(self.engine, api_key, params)

    def cancel_order(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        return trading.cancel_order(self.engine, api_key, params)

    def cancel_open_orders(self, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return trading.cancel_open_orders(self.engine, api_key, params)

    def query_order(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        return trading.query_order(self.engine, api_key, params)

    def open_orders(self, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return trading.open_orders(self.engine, api_key, params)

    def all_orders(self, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return trading.all_orders(self.engine, api_key, params)

    def my_trades(self, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return trading.my_trades(self.engine, api_key, params)

    def account(self, api_key: str) -> dict[str, Any]:
        return trading.account_json(self.engine, api_key)

    def new_oco(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        """Both `order/oco` (price, stopPrice, stopLimitPrice ...) and `orderList/oco` (aboveType ...)."""
        return oco.new_oco(self.engine, api_key, params)

    def query_order_list(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        return oco.query_order_list(self.engine, api_key, params)

    def open_order_lists(self, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return oco.open_order_lists(self.engine, api_key, params)

    def cancel_order_list(self, api_key: str, params: dict[str, str]) -> dict[str, Any]:
        return oco.cancel_order_list(self.engine, api_key, params)

    # ---- admin --------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Ground truth: every retained order, order list, fill and balance, with the api key that acted."""
        engine = self.engine
        fmt = formats.fmt
        accounts = list(engine.keys.by_id.values())
        orders: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        for account in accounts:
            for order in sorted(account.orders.values(), key=lambda o: o.order_id):
                orders.append(
                    {**formats.order_json(order), "apiKey": order.api_key, "accountId": account.account_id}
                )
            fills.extend(
                {**formats.my_trade_json(f), "apiKey": f.api_key, "accountId": account.account_id}
                for f in account.fills
            )
        balances = {
            a.account_id: {
                "keys": list(a.keys),
                "balances": {
                    asset: {"free": fmt(a.free.get(asset, ZERO)), "locked": fmt(a.locked.get(asset, ZERO))}
                    for asset in a.assets()
                },
            }
            for a in accounts
        }
        return {
            "serverTime": self._clock(),
            "symbols": {
                st.venue_id: {
                    "mid": fmt(st.model.mid),
                    "lastPrice": fmt(st.tape.last_price),
                    "regime": st.model.regime,
                    "lastUpdateId": st.book.update_id,
                    "lastTradeId": st.tape.next_trade_id - 1,
                }
                for st in engine.symbols.values()
            },
            "orders": orders,
            "orderLists": [
                {**formats.order_list_json(ol), "apiKey": ol.api_key} for ol in engine.lists.values()
            ],
            "fills": fills,
            "accounts": balances,
            "balances": {
                key: balances[acct.account_id]["balances"] for key, acct in engine.keys.accounts.items()
            },
            "fees": {asset: fmt(v) for asset, v in sorted(engine.fees.items())},
        }

    def reset(self) -> None:
        """Back to the seeded initial market; keys are KEPT, each account back to its initial balances."""
        for account in self.engine.keys.by_id.values():
            account.reset()
        self.engine.seed_market()
