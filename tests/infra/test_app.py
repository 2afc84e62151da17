"""``python infra/app.py`` (what ``make synth`` and the CDK CLI run) synthesizes every stack, bundling
the Lambda code for real: pip for manylinux aarch64 / CPython 3.12, no Docker.

This is the deploy path end to end: the script entry (infra/constructs must not shadow the
``constructs`` library), cdk.json's context, cdk-nag as a validation plugin (a finding fails the
synth) and the local bundler, whose asset must hold the handler, the tradeops package and aarch64
binaries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradeops.routes import FUNCTIONS

from .conftest import ROOT

pytestmark = [pytest.mark.infra, pytest.mark.integration, pytest.mark.xdist_group("infra-bundle")]

STACKS = {
    "TradeopsNetwork",
    "TradeopsData",
    "TradeopsSecurity",
    "TradeopsObservability",
    "TradeopsFunctions",
    "TradeopsGateway",
    "TradeopsWeb",
}
ELF_MACHINE_AARCH64 = 0xB7


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    env = {k: v for k, v in os.environ.items() if k not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
    env.update(CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    result = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-6000:]
    return outdir


def test_script_synthesizes_every_stack(cdk_out: Path) -> None:
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    stacks = {name for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert stacks == STACKS


def test_lambda_assets_are_bundled_for_arm64(cdk_out: Path) -> None:
    template = json.loads((cdk_out / "TradeopsFunctions.template.json").read_text())
    assets = json.loads((cdk_out / "TradeopsFunctions.assets.json").read_text())["files"]
    functions = {
        r["Properties"]["FunctionName"]: r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and str(r["Properties"].get("FunctionName", "")).startswith("tradeops-")
    }
    assert set(functions) == {f"tradeops-{spec.name}" for spec in FUNCTIONS}
    for name, key in functions.items():
        asset_hash = key.removesuffix(".zip")
        bundle = cdk_out / assets[asset_hash]["source"]["path"]
        assert (bundle / "handler.py").is_file(), name
        assert (bundle / "tradeops" / "routes.py").is_file(), name
        assert not list(bundle.rglob("__pycache__")), name
        binaries = list(bundle.glob("pydantic_core/*.so"))
        assert binaries and all(_elf_machine(so) == ELF_MACHINE_AARCH64 for so in binaries), name
        assert "cpython-312" in binaries[0].name, name


def test_the_api_asset_is_the_chalice_app_with_its_runtime_and_arm64_binaries(cdk_out: Path) -> None:
    template = json.loads((cdk_out / "TradeopsWeb.template.json").read_text())
    assets = json.loads((cdk_out / "TradeopsWeb.assets.json").read_text())["files"]
    [key] = [
        r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == "tradeops-api"
    ]
    bundle = cdk_out / assets[key.removesuffix(".zip")]["source"]["path"]
    for path in ("app.py", "chalice/__init__.py", "chalice/app.py", "tradeops/api/app.py", "jwt/__init__.py"):
        assert (bundle / path).is_file(), path
    assert not (bundle / ".chalice").exists()
    binaries = list(bundle.glob("pydantic_core/*.so")) + list(
        bundle.glob("cryptography/hazmat/bindings/*.so")
    )
    assert len(binaries) >= 2 and all(_elf_machine(so) == ELF_MACHINE_AARCH64 for so in binaries)
