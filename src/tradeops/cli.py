"""The ``tradeops`` command. Each command lives with the code it drives; this module only wires them."""

from __future__ import annotations

from pathlib import Path

import typer

from tradeops.audit_commands import audit_app
from tradeops.kill_switch_commands import kill_switch_app
from tradeops.limits_commands import limits_app
from tradeops.local.commands import up
from tradeops.reconcile_commands import reconcile
from tradeops.secrets_commands import secrets_app
from tradeops.sim.commands import sim

app = typer.Typer(
    name="tradeops",
    help="tradeops: live trading under hard risk controls, with an auditable journal.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("up")(up)
app.command("sim")(sim)
app.command("reconcile")(reconcile)
app.add_typer(audit_app, name="audit")
app.add_typer(secrets_app, name="secrets")
app.add_typer(limits_app, name="limits")
app.add_typer(kill_switch_app, name="kill-switch")


@app.command()
def version() -> None:
    """Print the tradeops version."""
    from tradeops import __version__

    typer.echo(__version__)


@app.command()
def schemas(
    out: Path = typer.Option(Path("schemas"), "--out", "-o", help="Directory for the JSON Schema files."),
) -> None:
    """Write the JSON Schema of every event (one file per detail-type) from the pydantic models."""
    import json

    from tradeops.domain.events import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for detail_type, schema in sorted(json_schemas().items()):
        path = out / f"{detail_type.lower().replace(' ', '-')}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written += 1
    typer.echo(f"wrote {written} schemas to {out}/")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
