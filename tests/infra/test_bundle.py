"""The Lambda asset is complete: the requirement set plus the sources import every handler alone.

The deployed bundle is ``functions/requirements.txt`` installed for manylinux aarch64 / CPython 3.12
plus ``src/tradeops`` and ``functions/<name>/`` (infra/bundling.py). aarch64 wheels cannot load on
this x86_64 machine, so this test installs the SAME requirement set for the host interpreter with the
same pip command builder (binary wheels only) and copies the sources with the same function, then
imports each ``handler`` module in ``python -I -S`` whose path holds only that bundle: no site-packages,
no PYTHONPATH, no project checkout. A missing dependency or module fails here, not in production. The
bundle differs from the deployed one only in platform tags. CPython 3.12 (the Lambda runtime) is used
when installed (pyenv); otherwise the host python3.

The dependency install is cached across sessions by requirement-set digest (``.pytest_cache``); the
sources are copied fresh every session.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from infra.bundling import REQUIREMENTS, copy_sources, pip_install_command, pip_python
from infra.constructs.function import lambda_environment
from infra.context import runtime_environment

from tradeops.routes import FUNCTIONS, FunctionSpec

pytestmark = [pytest.mark.infra, pytest.mark.integration, pytest.mark.xdist_group("infra-bundle")]

IMPORT_HANDLER = (
    "import sys; sys.path[:0] = sys.argv[1:3]; import handler; "
    "assert callable(handler.handler), 'handler.handler is not callable'; "
    "print(handler.__file__)"
)


def _python_312() -> str | None:
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    candidates = [
        p for root in roots if root for p in sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"))
    ]
    for candidate in [*candidates, shutil.which("python3.12")]:
        if candidate and subprocess.run([candidate, "-c", "import pip"], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="session")
def bundle_python() -> str:
    return _python_312() or pip_python()


@pytest.fixture(scope="session")
def dependencies(
    bundle_python: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    version = subprocess.run(
        [bundle_python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + version.encode()).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    name = f"lambda-deps-{digest}"
    target = Path(cache.mkdir(name)) if cache is not None else tmp_path_factory.mktemp(name)
    done = target / ".complete"
    if not done.exists():
        shutil.rmtree(target)
        command = pip_install_command(target, python=bundle_python, platforms=(), python_version=None)
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        done.touch()
    return target


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_handler_imports_from_the_bundle_alone(
    spec: FunctionSpec, bundle_python: str, dependencies: Path, tmp_path: Path
) -> None:
    sources = tmp_path / spec.name
    copy_sources(spec.name, sources)
    assert (sources / "handler.py").is_file() and (sources / "tradeops" / "__init__.py").is_file()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"tradeops-{spec.name}",
        **lambda_environment(spec, runtime_environment(worm_bucket="worm", reports_bucket="reports")),
    }
    result = subprocess.run(
        [bundle_python, "-I", "-S", "-B", "-c", IMPORT_HANDLER, str(sources), str(dependencies)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == str(sources / "handler.py")


def test_the_requirement_set_excludes_what_lambdas_must_not_carry() -> None:
    pins = {
        line.split("==")[0].split("[")[0].strip().lower()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"aws-lambda-powertools", "pynamodb", "pydantic", "pydantic-settings", "boto3", "ccxt"} <= pins
    assert not pins & {"moto", "aws-cdk-lib", "constructs", "cdk-nag", "typer", "rich"}
    assert all("==" in line for line in REQUIREMENTS.read_text().splitlines() if line and line[0] != "#")


def test_the_venue_read_path_imports_from_the_bundle_alone(
    bundle_python: str, dependencies: Path, tmp_path: Path
) -> None:
    """rotate_secret's testSecret loads ccxt lazily: prove the signed-read path is in the asset too."""
    sources = tmp_path / "rotate_secret"
    copy_sources("rotate_secret", sources)
    script = (
        "import sys; sys.path[:0] = sys.argv[1:3]; "
        "import ccxt.async_support, tradeops.aws.rotation, tradeops.venue.sim_exchange; "
        "print(ccxt.async_support.binance.__name__)"
    )
    result = subprocess.run(
        [bundle_python, "-I", "-S", "-B", "-c", script, str(sources), str(dependencies)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == "binance"
