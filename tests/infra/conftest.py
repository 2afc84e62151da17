"""The CDK app synthesized once per session, in process, with Lambda bundling skipped by context.

Every infra test reads the same cloud assembly. Cross-stack values (``Fn::GetStackOutput``,
``Fn::ImportValue``) are resolved back to the producing stack's resource, so a test can say "this
alarm notifies *that* topic" rather than "this alarm has some action".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the CDK app is the `infra` package at the repository root
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App  # noqa: E402
from infra.app import build_app  # noqa: E402

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
Ref = tuple[str, str]
"""(stack name, logical id) of a resource."""


@dataclass
class Synth:
    app: App
    templates: dict[str, dict[str, Any]]

    def resources(self, type_: str, stack: str | None = None) -> dict[Ref, dict[str, Any]]:
        """Every resource of a CloudFormation type, keyed by (stack, logical id)."""
        found: dict[Ref, dict[str, Any]] = {}
        for name, template in self.templates.items():
            if stack is not None and name != stack:
                continue
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == type_:
                    found[(name, logical_id)] = resource
        return found

    def resource(self, ref: Ref) -> dict[str, Any]:
        return dict(self.templates[ref[0]]["Resources"][ref[1]])

    def resolve(self, stack: str, value: Any) -> Ref | None:
        """The resource a Ref / Fn::GetAtt / Fn::GetStackOutput / Fn::ImportValue in ``stack`` names."""
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str) and arg in self.templates[stack]["Resources"]:
            return (stack, arg)
        if fn == "Fn::GetAtt":
            return (stack, arg[0])
        if fn == "Fn::GetStackOutput":
            producer = arg["StackName"]
            return self.resolve(producer, self.templates[producer]["Outputs"][arg["OutputName"]]["Value"])
        if fn == "Fn::ImportValue":
            for producer, template in self.templates.items():
                for output in template.get("Outputs", {}).values():
                    if output.get("Export", {}).get("Name") == arg:
                        return self.resolve(producer, output["Value"])
        return None

    def find(self, type_: str, **properties: Any) -> Ref:
        """The one resource of ``type_`` whose properties include ``properties``."""
        matches = [
            ref
            for ref, resource in self.resources(type_).items()
            if all(resource.get("Properties", {}).get(k) == v for k, v in properties.items())
        ]
        assert len(matches) == 1, f"{type_} with {properties}: {matches}"
        return matches[0]


@pytest.fixture(scope="session")
def synth() -> Iterator[Synth]:
    saved = {k: os.environ.pop(k) for k in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION") if k in os.environ}
    try:
        app = build_app(SKIP_BUNDLING, nag=False)
        assembly = app.synth()
        yield Synth(app, {stack.stack_name: stack.template for stack in assembly.stacks})
    finally:
        os.environ.update(saved)
