"""`python -m tradeops.sim ...`: the `tradeops sim` command as a standalone process."""

import typer

from tradeops.sim.commands import sim

if __name__ == "__main__":
    typer.run(sim)
