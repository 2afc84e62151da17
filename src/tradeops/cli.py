"""The ``tradeops`` command. Each command lives with the code it drives; this module only wires them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tradeops",
    help="tradeops: live trading under hard risk controls, with an auditable journal.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the tradeops version."""
    from tradeops import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
