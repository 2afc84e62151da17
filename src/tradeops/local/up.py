"""``tradeops up``: the whole platform on one machine, moto as AWS.

Order: preflight (host, state-dir lock, dependencies, function code, ports: nothing starts unless all
pass) -> moto -> provision -> function runner (+ scheduler) -> simulator -> gateway (with the demo
strategy unless ``--no-demo``) -> ``endpoints.json`` -> supervise until
SIGINT/SIGTERM/SIGHUP -> stop every child -> exit 0. Later issues register their processes in
``_register_children`` and give them a port slot in ``ports.PORT_SLOTS``.
"""

from __future__ import annotations

import fcntl
import importlib
import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from tradeops.config import Settings
from tradeops.local.endpoints import (
    ENDPOINTS_FILE,
    build_endpoints,
    local_aws_env,
    settings_env,
    web_endpoints,
    write_endpoints,
)
from tradeops.local.ports import DEFAULT_PORT_BASE, PreflightError, allocate_ports
from tradeops.local.provision import (
    WORM_RETENTION_DAYS,
    ProvisionedResources,
    provision,
    random_exchange_key,
    random_password,
)
from tradeops.local.supervisor import ChildFailed, ChildSpec, Supervisor, print_table
from tradeops.local.web import LazyEnv, cognito_env
from tradeops.routes import FUNCTIONS, FunctionSpec

REQUIRED_MODULES = (
    "boto3",
    "moto.moto_server.werkzeug_app",
    "werkzeug.serving",
    "aws_lambda_powertools",
    "pydantic_settings",
    "rich",
)
EXIT_PREFLIGHT = 2
EXIT_FAILED = 1


@dataclass(frozen=True)
class UpOptions:
    host: str = "127.0.0.1"
    port_base: int = DEFAULT_PORT_BASE
    state_dir: Path = Path(".tradeops")
    functions_dir: Path = Path("functions")
    worm_retention_days: int = WORM_RETENTION_DAYS
    demo_password: str | None = None
    retry_delay_s: int | None = None
    sim_seed: int = 7
    demo: bool = True
    """Run the demo strategy inside the gateway (``--no-demo`` turns it off)."""
    ui_dir: Path = Path("frontend/dist")
    """The built operator UI, served with the API on one origin (tradeops.local.web)."""


def check_host(host: str) -> None:
    """The stack has no authentication in front of moto: loopback only."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PreflightError(f"--host {host}: the embedded stack listens on loopback only (e.g. 127.0.0.1)")


def check_dependencies(modules: Iterable[str] = REQUIRED_MODULES) -> None:
    """Import each module; name every one that is missing or broken."""
    problems = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            problems.append(f"{name} ({type(exc).__name__}: {exc})")
    if problems:
        raise PreflightError(
            "missing dependencies: " + "; ".join(problems) + " -- install them with `uv sync` (or `make up`)"
        )


def check_functions(functions_dir: Path, functions: Iterable[FunctionSpec] = FUNCTIONS) -> None:
    missing = [str(functions_dir / f.name / "handler.py") for f in functions]
    missing = [path for path in missing if not Path(path).is_file()]
    if missing:
        raise PreflightError(f"function code not found: {', '.join(missing)} (is --functions-dir right?)")


def lock_state_dir(state_dir: Path, stack: ExitStack) -> None:
    """Hold an exclusive lock on ``<state_dir>/up.lock`` for the life of the process (released on death)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = stack.enter_context((state_dir / "up.lock").open("a+", encoding="utf-8"))
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        raise PreflightError(f"another `tradeops up` (pid {owner}) is using {state_dir}") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()


class _Stack:
    """The running stack: settings, the latest provisioning result, and the endpoints file."""

    def __init__(self, options: UpOptions, ports: dict[str, int]) -> None:
        self.options = options
        self.ports = ports
        self.aws_url = f"http://{options.host}:{ports['aws']}"
        self.sim_url = f"http://{options.host}:{ports['sim']}"
        self.sim_md_url = f"http://{options.host}:{ports['sim_md']}"
        self.exchange_key = random_exchange_key()
        """The simulator's API key: stored in the exchange-key secret, given to the simulator by env."""
        self.settings = Settings().model_copy(update={"aws_endpoint_url": self.aws_url})
        self.demo_password = options.demo_password or random_password()
        self.endpoints_path = options.state_dir / ENDPOINTS_FILE
        self.runner_ready = options.state_dir / "runner.ready"
        self.resources: ProvisionedResources | None = None
        self.started = False
        self.supervisor: Supervisor | None = None

    def provision(self) -> None:
        """moto's on_ready: provision (again, after a moto restart) and refresh endpoints.json."""
        self.resources = provision(
            self.settings,
            worm_retention_days=self.options.worm_retention_days,
            demo_password=self.demo_password,
            exchange_key=self.exchange_key,
        )
        if self.started:
            self.write_endpoints()

    def endpoints(self) -> dict[str, Any]:
        assert self.resources is not None
        published = self.supervisor.endpoints() if self.supervisor else {}
        if "sim" in published:
            published["sim_md"] = self.sim_md_url
        if "ui" in published:
            published.update(web_endpoints(published["ui"]))
        return build_endpoints(self.settings, self.resources, supervisor_pid=os.getpid(), **published)

    def write_endpoints(self) -> None:
        write_endpoints(self.endpoints_path, self.endpoints())

    def child_env(self) -> dict[str, str]:
        """Environment of the platform's own processes; the simulator's URL lets rotation issue keys there."""
        return {
            **settings_env(self.settings),
            **local_aws_env(self.settings),
            "TRADEOPS_SIM_URL": self.sim_url,
            "PYTHONUNBUFFERED": "1",
        }


def _register_children(supervisor: Supervisor, stack: _Stack) -> None:
    """Every child of the stack, in start order (later issues: simulator, gateway, API, UI)."""
    python = sys.executable
    opts = stack.options
    supervisor.register(
        ChildSpec(
            "aws",
            [
                python,
                "-m",
                "tradeops.local.moto_process",
                "--host",
                opts.host,
                "--port",
                str(stack.ports["aws"]),
            ],
            ready=f"{stack.aws_url}/moto-api/data.json",
            url=stack.aws_url,
            on_ready=stack.provision,
        )
    )
    runner_argv = [
        python,
        "-m",
        "tradeops.local.runner",
        "--functions-dir",
        str(opts.functions_dir.resolve()),
    ]
    runner_argv += ["--ready-file", str(stack.runner_ready.resolve())]
    if opts.retry_delay_s is not None:
        runner_argv += ["--retry-delay-s", str(opts.retry_delay_s)]

    def runner_ready() -> bool:
        """The ready file names the current runner process (not one from before a restart)."""
        try:
            pid = json.loads(stack.runner_ready.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return False
        return bool(pid == supervisor.pids().get("runner"))

    supervisor.register(
        ChildSpec("runner", runner_argv, env=stack.child_env(), ready=runner_ready, ready_timeout_s=60)
    )
    sim_argv = [python, "-m", "tradeops.sim", "--host", opts.host, "--seed", str(opts.sim_seed)]
    sim_argv += ["--port", str(stack.ports["sim"]), "--md-port", str(stack.ports["sim_md"])]
    sim_env = {
        "TRADEOPS_SIM_API_KEY": stack.exchange_key["apiKey"],
        "TRADEOPS_SIM_API_SECRET": stack.exchange_key["secret"],
    }
    supervisor.register(
        ChildSpec(
            "sim",
            sim_argv,
            env=sim_env,
            ready=f"{stack.sim_url}/api/v3/ping",
            url=stack.sim_url,
            endpoint="sim",
        )
    )
    gateway_health = f"http://{opts.host}:{stack.ports['gateway']}"
    gateway_env = {
        **stack.child_env(),
        "TRADEOPS_SIM_MD_URL": stack.sim_md_url,
        "TRADEOPS_GATEWAY_HEALTH_HOST": opts.host,
        "TRADEOPS_GATEWAY_HEALTH_PORT": str(stack.ports["gateway"]),
        "TRADEOPS_DEMO_STRATEGY": "1" if opts.demo else "0",
    }
    supervisor.register(
        ChildSpec(
            "gateway",
            [python, "-m", "tradeops.gateway"],
            env=gateway_env,
            ready=f"{gateway_health}/healthz",
            url=gateway_health,
            endpoint="gateway_health",
            ready_timeout_s=60,
        )
    )
    web_url = f"http://{opts.host}:{stack.ports['web']}"
    web_argv = [python, "-m", "tradeops.local.web", "--host", opts.host, "--port", str(stack.ports["web"])]
    web_argv += ["--ui-dir", str(opts.ui_dir.resolve())]

    def web_env() -> dict[str, str]:
        """Read at each (re)start: the Cognito pool of the latest provisioning."""
        assert stack.resources is not None and stack.resources.cognito is not None
        return {**stack.child_env(), **cognito_env(stack.resources.cognito)}

    supervisor.register(
        ChildSpec(
            "web",
            web_argv,
            env=LazyEnv(web_env),
            ready=f"{web_url}/api/openapi.json",
            url=web_url,
            endpoint="ui",
        )
    )


def _print_summary(stack: _Stack, out: IO[str] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    document = stack.endpoints()
    endpoints = Table(title="endpoints", title_justify="left", show_header=False)
    for key in ("aws", "region", "bus_name"):
        endpoints.add_row(key, str(document[key]))
    endpoints.add_row("cognito user pool", document["cognito"]["user_pool_id"])
    endpoints.add_row("cognito client id", document["cognito"]["client_id"])
    endpoints.add_row("exchange simulator", f"{document['sim']}/api/v3  (backup feed {document['sim_md']})")
    if "gateway_health" in document:
        demo = "demo strategy on" if stack.options.demo else "no demo strategy (--no-demo)"
        endpoints.add_row("gateway health", f"{document['gateway_health']}/readyz  ({demo})")
    if "ui" in document:
        endpoints.add_row("operator UI + API", f"{document['ui']}  (API {document['api']})")
    endpoints.add_row("endpoints file", str(stack.endpoints_path))
    logins = Table(title="demo logins", title_justify="left")
    for column in ("username", "password", "groups"):
        logins.add_column(column)
    for user in document["demo_users"]:
        logins.add_row(user["username"], user["password"], ", ".join(user["groups"]))
    console = Console(file=out)
    console.print(endpoints)
    console.print(logins)
    console.print("Ctrl-C stops everything.")


def run_up(options: UpOptions, *, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run the embedded stack in the foreground until a stop signal; the process's exit code."""
    error = err or sys.stderr
    with ExitStack() as resources:
        try:
            check_host(options.host)
            lock_state_dir(options.state_dir, resources)
            check_dependencies()
            check_functions(options.functions_dir)
            ports = allocate_ports(options.host, options.port_base)
        except PreflightError as exc:
            print(f"tradeops up: {exc}", file=error, flush=True)
            return EXIT_PREFLIGHT
        stop = threading.Event()

        def handle(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handle)
        stack = _Stack(options, ports)
        os.environ.update(local_aws_env(stack.settings))
        stack.endpoints_path.unlink(missing_ok=True)
        stack.runner_ready.unlink(missing_ok=True)
        supervisor = Supervisor(
            options.state_dir / "logs", on_change=lambda s: print_table(s, out) if stack.started else None
        )
        stack.supervisor = supervisor
        _register_children(supervisor, stack)
        code = 0
        try:
            supervisor.start(stop)
            if not stop.is_set():
                stack.write_endpoints()
                stack.started = True
                print_table(supervisor, out)
                _print_summary(stack, out)
                supervisor.run(stop)
        except ChildFailed as exc:
            code = 0 if stop.is_set() else EXIT_FAILED
            if code:
                print(f"tradeops up: {exc} (logs in {options.state_dir / 'logs'})", file=error, flush=True)
        except Exception as exc:
            print(f"tradeops up: failed: {type(exc).__name__}: {exc}", file=error, flush=True)
            code = EXIT_FAILED
        finally:
            supervisor.stop()
            stack.endpoints_path.unlink(missing_ok=True)
            stack.runner_ready.unlink(missing_ok=True)
        return code
