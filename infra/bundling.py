"""Lambda code assets bundled without Docker.

Each function's asset is ``pip install`` of ``functions/requirements.txt`` for the Lambda platform
(CPython 3.12, manylinux aarch64, binary wheels only) plus ``src/tradeops`` and the files of
``functions/<name>/``. aws-lambda-powertools is bundled from that requirement set rather than taken
from the public layer: one pinned version, the same one uv.lock and the tests use, no per-region layer
ARN, and ``tests/infra/test_bundle.py`` proves the bundle alone imports every handler.

The asset hash is a digest of everything that goes into the bundle, so CDK re-bundles exactly when a
source or a pin changes. With the context ``aws:cdk:bundling-stacks: []`` CDK skips bundling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "tradeops"
FUNCTIONS_DIR = ROOT / "functions"
REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PYTHON_VERSION = "3.12"
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels are loadable too.
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")

_SKIP = ("__pycache__", "*.pyc", "*.pyo")


def function_dir(name: str, entry: str = "handler.py") -> Path:
    """``functions/<name>/``; fails the synth if the function has no ``entry`` module."""
    path = FUNCTIONS_DIR / name
    if not (path / entry).is_file():
        raise FileNotFoundError(f"function {name!r} has no {path / entry}")
    return path


def pip_install_command(
    target: Path,
    *,
    python: str,
    requirements: Path = REQUIREMENTS,
    platforms: Sequence[str] = LAMBDA_PLATFORMS,
    python_version: str | None = LAMBDA_PYTHON_VERSION,
) -> list[str]:
    """The pip command installing the Lambda requirement set into ``target``.

    Binary wheels only, as in the Lambda build. With no platforms and no python version it installs
    for the interpreter ``python`` itself (the host build the bundle test imports).
    """
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    command += ["--only-binary=:all:", "--target", str(target), "--requirement", str(requirements)]
    if platforms or python_version:
        command += ["--implementation", "cp"]
    for platform in platforms:
        command += ["--platform", platform]
    if python_version:
        command += ["--python-version", python_version]
    return command


def copy_sources(name: str, out: Path, *, extra_files: Sequence[tuple[Path, str]] = ()) -> None:
    """Copy the ``tradeops`` package, ``functions/<name>/`` and ``extra_files`` (source, bundle path)."""
    shutil.copytree(PACKAGE_DIR, out / "tradeops", ignore=shutil.ignore_patterns(*_SKIP), dirs_exist_ok=True)
    for source_file, bundle_path in extra_files:
        (out / bundle_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_file, out / bundle_path)
    source = FUNCTIONS_DIR / name
    for entry in sorted(source.iterdir()):
        if entry.name in ("__pycache__", ".chalice") or entry.suffix in (".pyc", ".pyo"):
            continue
        if entry.is_dir():
            shutil.copytree(
                entry, out / entry.name, ignore=shutil.ignore_patterns(*_SKIP), dirs_exist_ok=True
            )
        else:
            shutil.copy2(entry, out / entry.name)


def source_digest(
    name: str, *, requirements: Path = REQUIREMENTS, extra_files: Sequence[tuple[Path, str]] = ()
) -> str:
    """sha256 over the pins, the target platform and every source file that goes into the bundle."""
    digest = hashlib.sha256()
    digest.update(" ".join((*LAMBDA_PLATFORMS, LAMBDA_PYTHON_VERSION)).encode())
    digest.update(requirements.read_bytes())
    for path in _source_files(name):
        digest.update(f"\0{path.relative_to(ROOT).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    for source_file, bundle_path in extra_files:
        digest.update(f"\0{bundle_path}\0".encode())
        digest.update(source_file.read_bytes())
    return digest.hexdigest()


def _source_files(name: str) -> Iterator[Path]:
    for root in (PACKAGE_DIR, FUNCTIONS_DIR / name):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                yield path


def pip_python() -> str:
    """An interpreter with pip: this one if it has pip (uv venvs do not), else ``python3`` on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    python3 = shutil.which("python3")
    if python3 is None:
        raise RuntimeError("Lambda bundling needs pip: no pip in this interpreter and no python3 on PATH")
    return python3


@jsii.implements(ILocalBundling)
class PipBundler:
    """Local bundling for one function: pip for the Lambda platform, then the sources."""

    def __init__(
        self, name: str, requirements: Path = REQUIREMENTS, extra_files: Sequence[tuple[Path, str]] = ()
    ) -> None:
        self.name = name
        self.requirements = requirements
        self.extra_files = tuple(extra_files)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        """Bundle into ``output_dir``; raises rather than falling back to Docker (there is none)."""
        out = Path(output_dir)
        command = pip_install_command(out, python=pip_python(), requirements=self.requirements)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"bundling {self.name}: pip failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        copy_sources(self.name, out, extra_files=self.extra_files)
        return True


def function_code(name: str) -> lambda_.Code:
    """The code asset of ``functions/<name>/``, bundled locally (see module docstring)."""
    return lambda_.Code.from_asset(
        str(function_dir(name)),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_digest(name),
        bundling=BundlingOptions(
            # Required by the type; never used because PipBundler bundles or raises.
            image=LAMBDA_RUNTIME.bundling_image,
            local=PipBundler(name),
        ),
    )


def chalice_runtime_files() -> tuple[tuple[Path, str], ...]:
    """The two modules of Chalice's runtime that ``chalice package`` vendors into every app bundle."""
    import chalice
    import chalice.app

    return ((Path(chalice.__file__), "chalice/__init__.py"), (Path(chalice.app.__file__), "chalice/app.py"))


def chalice_app_code(name: str) -> lambda_.Code:
    """The code asset of the Chalice app ``functions/<name>/app.py``: its own requirements.txt, the sources
    and Chalice's runtime, bundled like the functions (``chalice package`` would download the same)."""
    source = function_dir(name, entry="app.py")
    requirements = source / "requirements.txt"
    extra = chalice_runtime_files()
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_digest(name, requirements=requirements, extra_files=extra),
        bundling=BundlingOptions(
            image=LAMBDA_RUNTIME.bundling_image,
            local=PipBundler(name, requirements, extra),
        ),
    )
