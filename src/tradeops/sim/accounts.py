"""Accounts (balances free/locked, orders, fills) and the API keys that act on them."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING

from tradeops.sim.errors import INSUFFICIENT_BALANCE, SimError, invalid_key, rejected

if TYPE_CHECKING:
    from tradeops.sim.orders import Fill, Order

ZERO = Decimal(0)


class Account:
    """One trading account; several API keys may share it (secret rotation)."""

    __slots__ = (
        "account_id",
        "by_cid",
        "closed",
        "fills",
        "free",
        "initial",
        "keys",
        "locked",
        "open",
        "orders",
        "update_time",
    )

    def __init__(self, account_id: str, balances: dict[str, Decimal]) -> None:
        self.account_id = account_id
        self.initial = dict(balances)
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        self.keys: list[str] = []
        self.orders: dict[int, Order] = {}  # open and retained closed orders by orderId
        self.open: dict[tuple[str, str], Order] = {}  # (symbol, clientOrderId) of open orders
        self.by_cid: dict[tuple[str, str], int] = {}  # (symbol, clientOrderId) -> latest retained orderId
        self.closed: deque[int] = deque()  # closed order ids, oldest first (eviction order)
        self.fills: deque[Fill] = deque()
        self.update_time = 0
        self.reset()

    def reset(self) -> None:
        for asset, amount in self.initial.items():
            if amount < 0:
                raise SimError(-1130, f"balance of {asset} must not be negative")
        self.free = {asset: Decimal(amount) for asset, amount in self.initial.items()}
        self.locked = {}
        self.orders.clear()
        self.open.clear()
        self.by_cid.clear()
        self.closed.clear()
        self.fills.clear()

    def available(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        free = self.free.get(asset, ZERO)
        if amount > free:
            raise rejected(INSUFFICIENT_BALANCE)
        self.free[asset] = free - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, ZERO) - amount

    def debit(self, asset: str, amount: Decimal) -> None:
        free = self.free.get(asset, ZERO)
        if amount > free:
            raise rejected(INSUFFICIENT_BALANCE)
        self.free[asset] = free - amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))

    def remember_open(self, order: Order) -> None:
        key = (order.symbol, order.client_order_id)
        self.orders[order.order_id] = order
        self.open[key] = order
        self.by_cid[key] = order.order_id

    def remember_closed(self, order: Order, cap: int) -> None:
        """Record a closed order and evict the oldest closed ones beyond the history cap."""
        self.open.pop((order.symbol, order.client_order_id), None)
        self.closed.append(order.order_id)
        while len(self.closed) > cap:
            old = self.orders.pop(self.closed.popleft(), None)
            if old is not None:
                key = (old.symbol, old.client_order_id)
                if self.by_cid.get(key) == old.order_id:
                    del self.by_cid[key]

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        """An order of this account by orderId, else by clientOrderId (open first, then retained)."""
        if order_id is not None:
            found = self.orders.get(order_id)
            return found if found is not None and found.symbol == symbol else None
        if client_id is None:
            return None
        found = self.open.get((symbol, client_id))
        if found is None:
            latest = self.by_cid.get((symbol, client_id))
            found = self.orders.get(latest) if latest is not None else None
        return found

    def remember_fill(self, fill: Fill, cap: int) -> None:
        self.fills.append(fill)
        if len(self.fills) > cap:
            self.fills.popleft()


class KeyRing:
    """API keys, their secrets and the account each acts on."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.accounts: dict[str, Account] = {}  # by api key
        self.by_id: dict[str, Account] = {}  # by account id

    def add(self, api_key: str, secret: str, balances: dict[str, Decimal], account_of: str | None) -> Account:
        if not isinstance(api_key, str) or not api_key or not isinstance(secret, str) or not secret:
            raise SimError(-1102, "api_key and secret must be non-empty strings")
        if api_key in self.secrets:
            raise SimError(-1130, f"API key {api_key!r} already exists")
        if account_of is not None:
            account = self.accounts.get(account_of)
            if account is None:
                raise SimError(-2015, f"account_of: unknown API key {account_of!r}", 400)
        else:
            account = Account(f"acct-{len(self.by_id) + 1}", balances)
            self.by_id[account.account_id] = account
        self.secrets[api_key] = secret
        self.accounts[api_key] = account
        account.keys.append(api_key)
        return account

    def revoke(self, api_key: str) -> None:
        account = self.accounts.pop(api_key, None)
        if account is None:
            raise SimError(-2015, f"unknown API key {api_key!r}", 404)
        del self.secrets[api_key]
        account.keys.remove(api_key)

    def account(self, api_key: str) -> Account:
        account = self.accounts.get(api_key)
        if account is None:
            raise invalid_key()
        return account
