"""The ``tradeops up`` command, wired into the CLI as ``app.command("up")(up)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def up(
    host: Annotated[str, typer.Option(help="Loopback address every server binds.")] = "127.0.0.1",
    port_base: Annotated[
        int, typer.Option(help="First port (moto = base, later processes base+1...); 0 picks free ports.")
    ] = 4700,
    state_dir: Annotated[Path, typer.Option(help="Where endpoints.json and the logs go.")] = Path(
        ".tradeops"
    ),
    functions_dir: Annotated[Path, typer.Option(help="Directory of functions/<name>/handler.py.")] = Path(
        "functions"
    ),
    worm_retention_days: Annotated[
        int,
        typer.Option(envvar="TRADEOPS_WORM_RETENTION_DAYS", help="Object Lock COMPLIANCE default retention."),
    ] = 2555,
    demo_password: Annotated[
        str | None,
        typer.Option(envvar="TRADEOPS_DEMO_PASSWORD", help="Password of every demo user (default: random)."),
    ] = None,
    retry_delay_s: Annotated[
        int | None,
        typer.Option(
            help="Seconds before a failed function event is retried (default: the queue's visibility)."
        ),
    ] = None,
    sim_seed: Annotated[int, typer.Option(help="Seed of the exchange simulator's market model.")] = 7,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Run the demo strategy inside the gateway.")
    ] = True,
) -> None:
    """Run the whole platform locally (moto as AWS) until Ctrl-C; prints the endpoints and demo logins."""
    from tradeops.local.up import UpOptions, run_up

    options = UpOptions(
        host=host,
        port_base=port_base,
        state_dir=state_dir,
        functions_dir=functions_dir,
        worm_retention_days=worm_retention_days,
        demo_password=demo_password,
        retry_delay_s=retry_delay_s,
        sim_seed=sim_seed,
        demo=demo,
    )
    raise typer.Exit(run_up(options))


if __name__ == "__main__":
    typer.run(up)
