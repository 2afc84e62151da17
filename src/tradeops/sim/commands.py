"""`tradeops sim`: run the exchange simulator in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tradeops.sim.config import SimConfig

DEFAULT_SYMBOLS = "BTC/USDT,ETH/USDT,SOL/USDT"
READY_PREFIX = "SIM_READY "


def parse_balances(items: list[str]) -> dict[str, Decimal]:
    """``["USDT=100000", "BTC=1"]`` -> ``{"USDT": Decimal("100000"), "BTC": Decimal("1")}``."""
    balances: dict[str, Decimal] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        asset = asset.strip().upper()
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not asset.isalnum() or not value.is_finite() or value < 0:
            raise typer.BadParameter(
                f"{item!r}: expected ASSET=AMOUNT with AMOUNT >= 0", param_hint="--balance"
            )
        balances[asset] = value
    return balances


def build_config(
    seed: int, symbols: str, balances: list[str], tick_ms: int, trades_per_step: int = 1
) -> SimConfig:
    """The venue configuration from command-line values (``--balance`` replaces the default balances)."""
    from tradeops.sim.config import SimConfig

    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    config = SimConfig(seed=seed, symbols=names, tick_ms=tick_ms, trades_per_step=trades_per_step)
    if balances:
        config.default_balances = parse_balances(balances)
    return config


def sim(
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Main port: REST, streams, WS-API, admin (0 = any).")] = 8810,
    md_port: Annotated[int, typer.Option(help="Second market-data port (0 = any).")] = 8811,
    seed: Annotated[int, typer.Option(help="Seed of the market model and of fault injection.")] = 7,
    symbols: Annotated[str, typer.Option(help="Comma-separated BASE/QUOTE symbols.")] = DEFAULT_SYMBOLS,
    balance: Annotated[
        list[str] | None, typer.Option(help="Initial balance of every new key, ASSET=AMOUNT (repeatable).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="TRADEOPS_SIM_API_KEY", help="API key to create (generated if absent)."),
    ] = None,
    api_secret: Annotated[
        str | None,
        typer.Option(envvar="TRADEOPS_SIM_API_SECRET", help="Its secret (generated and printed if absent)."),
    ] = None,
    tick_ms: Annotated[int, typer.Option(help="Market model step in milliseconds.")] = 50,
    trades_per_step: Annotated[int, typer.Option(help="Background trades per symbol per step.")] = 1,
) -> None:
    """Run the Binance-spot-compatible exchange simulator; prints its URLs and an API key."""
    import asyncio
    import secrets

    config = build_config(seed, symbols, balance or [], tick_ms, trades_per_step)
    key = api_key or secrets.token_hex(16)
    secret = api_secret or secrets.token_hex(32)
    try:
        asyncio.run(_serve(config, host, port, md_port, key, secret, show_secret=api_secret is None))
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        typer.echo(f"tradeops sim: {exc}", err=True)
        raise typer.Exit(1) from None


async def _serve(
    config: SimConfig, host: str, port: int, md_port: int, key: str, secret: str, *, show_secret: bool
) -> None:
    """Serve until SIGINT/SIGTERM. A secret given by the caller is never printed (it is not ours to show)."""
    from tradeops.aio import until_stop_signal
    from tradeops.sim.errors import SimError
    from tradeops.sim.server.app import start_sim

    try:
        running = await start_sim(config, host, port, md_port)
    except SimError as exc:
        raise ValueError(exc.msg) from None
    try:
        running.venue.add_key(key, secret)
        ws_url = running.url.replace("http://", "ws://", 1)
        typer.echo(f"tradeops sim  seed={config.seed}  symbols={','.join(config.symbols)}")
        typer.echo(f"  REST        {running.url}/api/v3")
        typer.echo(f"  streams     {ws_url}/ws  {ws_url}/stream")
        typer.echo(f"  WS-API      {ws_url}/ws-api/v3")
        typer.echo(f"  market data {running.md_url.replace('http://', 'ws://', 1)}/ws  (backup feed)")
        typer.echo(f"  admin       {running.admin_url}/state")
        typer.echo(f"  api key     {key}")
        ready = {"url": running.url, "md_url": running.md_url, "admin_url": running.admin_url, "api_key": key}
        if show_secret:
            typer.echo(f"  api secret  {secret}")
            ready["api_secret"] = secret
        typer.echo(READY_PREFIX + json.dumps(ready))
        await until_stop_signal()
    finally:
        await running.close()
