"""Build unmodified ``ccxt.binance`` / ``ccxt.pro.binance`` instances pointed at a simulator."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async

SPOT_ONLY_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}
# Binance's stream host is ``stream.binance.com``; ccxt.pro tells spot sockets by "/stream" in the URL,
# so on the simulator (one host for everything) that host maps to the path prefix "/stream".
_STREAM_HOST_PREFIX = "/stream"


def _rewrite(url: str, http_base: str, ws_base: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        prefix = _STREAM_HOST_PREFIX if parts.hostname and parts.hostname.startswith("stream.") else ""
        return f"{ws_base}{prefix}{parts.path}"
    return f"{http_base}{parts.path}"


def _rewrite_tree(node: Any, http_base: str, ws_base: str, md_ws_base: str) -> Any:
    if isinstance(node, dict):
        return {k: _rewrite_tree(v, http_base, ws_base, md_ws_base) for k, v in node.items()}
    if isinstance(node, str) and "://" in node:
        parts = urlsplit(node)
        is_market_stream = parts.scheme in ("ws", "wss") and not parts.path.startswith("/ws-")
        return _rewrite(node, http_base, md_ws_base if is_market_stream else ws_base)
    return node


def _bases(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"simulator URL must be http(s)://host:port, not {url!r}")
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc}", f"{ws_scheme}://{parts.netloc}"


def make_ccxt_exchange(
    sim_url: str,
    api_key: str,
    secret: str,
    *,
    pro: bool = False,
    md_url: str | None = None,
    options: dict[str, Any] | None = None,
) -> ccxt_async.binance:
    """An async ccxt binance (``pro=True``: ccxt.pro) whose every ``urls['api']`` host is the simulator.

    REST and the WS-API go to ``sim_url``; market streams go to ``md_url`` when given (a backup feed on
    the simulator's market-data port). ``options`` extend the spot-only defaults. The client-side rate
    limiter stays on: it is a real protection against 429/418 bans (turn it off per instance for
    benchmarks with ``exchange.enableRateLimit = False``). Close the exchange with ``await ex.close()``.
    """
    http_base, ws_base = _bases(sim_url)
    md_ws_base = _bases(md_url)[1] if md_url is not None else ws_base
    merged = copy.deepcopy(SPOT_ONLY_OPTIONS)
    merged.update(options or {})
    config = {"apiKey": api_key, "secret": secret, "enableRateLimit": True, "options": merged}
    if pro:
        import ccxt.pro  # ~1 s and ~110 MB: only when streams are wanted

        exchange: ccxt_async.binance = ccxt.pro.binance(config)
    else:
        exchange = ccxt_async.binance(config)
    exchange.urls["api"] = _rewrite_tree(exchange.urls["api"], http_base, ws_base, md_ws_base)
    return exchange
