"""``tradeops secrets``: stage a venue-issued exchange key, rotate the exchange-key secret, revoke old keys.

Wired into the CLI as ``app.add_typer(secrets_app, name="secrets")``. Where things are comes from
``.tradeops/endpoints.json`` when it exists (the embedded stack), otherwise from the ``TRADEOPS_*``
environment. Key material is read from stdin or a hidden prompt, never from arguments, and is never
printed: output names secret ids and version ids only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tradeops.config import Settings

secrets_app = typer.Typer(
    help="The exchange-key secret: stage a new key, rotate it, revoke retired keys.", no_args_is_help=True
)

EndpointsOption = Annotated[
    Path, typer.Option("--endpoints", help="endpoints.json of the embedded stack (used when it exists).")
]
SimUrlOption = Annotated[
    str | None,
    typer.Option(envvar="TRADEOPS_SIM_URL", help="Exchange simulator URL (default: from endpoints.json)."),
]
DEFAULT_ENDPOINTS = Path(".tradeops/endpoints.json")
EXIT_FAILED = 1


def _context(endpoints: Path, sim_url: str | None) -> tuple[Settings, str | None]:
    """Settings (and the simulator URL) of the running embedded stack, else from the environment."""
    from tradeops.config import Settings
    from tradeops.local.endpoints import use_embedded_stack

    embedded = use_embedded_stack(endpoints)
    if embedded is None:
        return Settings(), sim_url
    settings, document = embedded
    return settings, sim_url or document.get("sim")


def _read_key() -> str:
    """The new key as the secret's JSON: from stdin (``{"apiKey", "secret"}``) or two hidden prompts."""
    import json

    if not sys.stdin.isatty():
        return sys.stdin.read().strip()
    api_key = typer.prompt("API key", hide_input=True)
    secret = typer.prompt("API secret", hide_input=True, confirmation_prompt=True)
    return json.dumps({"apiKey": api_key, "secret": secret})


def _fail(message: str) -> typer.Exit:
    typer.echo(f"tradeops secrets: {message}", err=True)
    return typer.Exit(EXIT_FAILED)


@secrets_app.command("stage")
def stage(endpoints: EndpointsOption = DEFAULT_ENDPOINTS) -> None:
    """Stage a key created in the venue's web UI as AWSPENDING; `rotate --staged` tests and promotes it."""
    import json
    import uuid

    from tradeops.aws.clients import client
    from tradeops.aws.rotation import PENDING
    from tradeops.observability import register_secret
    from tradeops.venue.credentials import CredentialsError, CredentialsProvider, ExchangeCredentials

    settings, _ = _context(endpoints, None)
    try:
        staged = ExchangeCredentials.from_secret_string(_read_key(), None)
    except CredentialsError as exc:
        raise _fail(f"the key read from input is not usable: {exc}") from None
    register_secret(staged.api_key)
    register_secret(staged.secret)
    try:
        current = CredentialsProvider(settings).load()
    except CredentialsError as exc:
        raise _fail(str(exc)) from None
    if current.api_key == staged.api_key:
        raise _fail("the key to stage is the current key")
    version = str(uuid.uuid4())
    try:
        client("secretsmanager", settings).put_secret_value(
            SecretId=settings.exchange_secret_id,
            ClientRequestToken=version,
            SecretString=json.dumps({"apiKey": staged.api_key, "secret": staged.secret}),
            VersionStages=[PENDING],
        )
    except Exception as exc:  # botocore errors: name the failure, never the request
        raise _fail(f"cannot stage version {version}: {type(exc).__name__}") from None
    typer.echo(f"staged version {version} of {settings.exchange_secret_id} as AWSPENDING")
    typer.echo("next: tradeops secrets rotate --staged")


@secrets_app.command("rotate")
def rotate(
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
    sim_url: SimUrlOption = None,
    staged: Annotated[
        bool, typer.Option("--staged", help="Promote the key staged with `secrets stage`.")
    ] = False,
    grace_s: Annotated[
        int,
        typer.Option(min=0, help="Seconds before the old key is revoked."),
    ] = 3600,
) -> None:
    """Rotate now: the four steps in process on the embedded stack, RotateSecret in AWS."""
    import uuid

    from tradeops.aws.clients import client
    from tradeops.aws.rotation import RotationError, build_rotator

    settings, sim = _context(endpoints, sim_url)
    secret_id = settings.exchange_secret_id
    token = str(uuid.uuid4())
    if settings.aws_endpoint_url is None:
        client("secretsmanager", settings).rotate_secret(SecretId=secret_id, ClientRequestToken=token)
        typer.echo(f"rotation of {secret_id} to version {token} started (Secrets Manager runs rotate_secret)")
        return
    # moto enables rotation only by invoking a Lambda it cannot run here: skip the enabled check.
    rotator = build_rotator(settings, sim_url=sim, grace_s=grace_s, require_enabled=False, staged=staged)
    try:
        rotator.rotate(secret_id, token)
    except RotationError as exc:
        raise _fail(f"rotation failed, AWSCURRENT unchanged: {exc}") from None
    typer.echo(f"rotated {secret_id} to version {token}; the old key is revoked after {grace_s} s")
    typer.echo("(by the next rotation or `tradeops secrets revoke-due`)")


@secrets_app.command("revoke-due")
def revoke_due(endpoints: EndpointsOption = DEFAULT_ENDPOINTS, sim_url: SimUrlOption = None) -> None:
    """Revoke retired keys whose grace period has passed."""
    from tradeops.aws.rotation import RotationError, build_rotator

    settings, sim = _context(endpoints, sim_url)
    rotator = build_rotator(settings, sim_url=sim, require_enabled=False)
    try:
        revoked = rotator.revoke_due(settings.exchange_secret_id)
    except RotationError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"revoked the keys of {len(revoked)} retired version(s): {', '.join(revoked) or '-'}")
