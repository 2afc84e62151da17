"""cdk-nag AwsSolutions: zero findings, and every acknowledgment is a reviewed, reasoned exception."""

from __future__ import annotations

import pytest
from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks
from infra.app import build_app
from infra.stacks.web import FRONTEND_DIST

from .conftest import SKIP_BUNDLING, Synth
from .test_platform import PAGING

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

ACKNOWLEDGED = {
    ("TradeopsFunctions/EventsDlq", "AwsSolutions-SQS3"),
    ("TradeopsGateway/Task", "AwsSolutions-ECS2"),
    ("TradeopsGateway/Task/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    # The journal stream event source needs dynamodb:ListStreams (no resource-level permission).
    ("TradeopsFunctions/Archiver/Role", "AwsSolutions-IAM5[Resource::*]"),
    # Archive objects are named at run time under journal/: the grant is scoped to that prefix. cdk-nag
    # reports the bucket ARN in two renderings (the token, and the weak cross-stack reference).
    (
        "TradeopsFunctions/Archiver/Role",
        "AwsSolutions-IAM5[Resource::<JournalArchiveACD18464.Arn>/journal/*]",
    ),
    (
        "TradeopsFunctions/Archiver/Role",
        'AwsSolutions-IAM5[Resource::{"Fn::GetStackOutput":{"StackName":"TradeopsData","Region":'
        '{"Ref":"AWS::Region"},"OutputName":"PublishOutputFnGetAttJournalArchiveACD18464ArnD9B965FA"}}'
        "/journal/*]",
    ),
    # The operator API reads the archive for GET /api/audit/verify (prefix grant, both renderings).
    ("TradeopsWeb/ApiRole", "AwsSolutions-IAM5[Resource::<JournalArchiveACD18464.Arn>/journal/*]"),
    (
        "TradeopsWeb/ApiRole",
        'AwsSolutions-IAM5[Resource::{"Fn::GetStackOutput":{"StackName":"TradeopsData","Region":'
        '{"Ref":"AWS::Region"},"OutputName":"PublishOutputFnGetAttJournalArchiveACD18464ArnD9B965FA"}}'
        "/journal/*]",
    ),
    ("TradeopsWeb/ApiFunction", "AwsSolutions-L1"),
    (
        "TradeopsWeb/Api/CloudWatchRole",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
    ),
    ("TradeopsWeb/Api", "AwsSolutions-APIG2"),
    ("TradeopsWeb/Api/DeploymentStage.api", "AwsSolutions-APIG3"),
    # The public routes of the route table (login configuration, login, OpenAPI document).
    ("TradeopsWeb/Api/Default", "AwsSolutions-APIG4"),
    ("TradeopsWeb/Api/Default", "AwsSolutions-COG4"),
    ("TradeopsWeb/Distribution", "AwsSolutions-CFR1"),
    ("TradeopsWeb/Distribution", "AwsSolutions-CFR2"),
    ("TradeopsWeb/Distribution", "AwsSolutions-CFR4"),
}
PER_FUNCTION = {"AwsSolutions-SQS3": "Failures", "AwsSolutions-L1": "Function"}
BUCKET_DEPLOYMENT = "TradeopsWeb/Custom::CDKBucketDeployment"
DEPLOYMENT_RULES = {"AwsSolutions-L1", "AwsSolutions-IAM4", "AwsSolutions-IAM5"}
"""CDK's BucketDeployment function (only when frontend/dist exists): its generated role and runtime."""


def _findings(app: App) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(app)
    return [
        f"{v.rule_name} at {[r.construct_path for r in v.violating_resources]}: {v.description}"
        for v in report.violations
    ]


def test_no_cdk_nag_findings(synth: Synth) -> None:
    assert _findings(synth.app) == []


def test_no_cdk_nag_findings_with_paging_configured() -> None:
    assert _findings(build_app({**SKIP_BUNDLING, **PAGING}, nag=False)) == []


def test_acknowledgments_are_the_reviewed_ones_and_give_reasons(synth: Synth) -> None:
    found: set[tuple[str, str]] = set()
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for key, reason in entry.data.items():
                rule = key.removeprefix("Annotation::")
                if rule.startswith("AwsSolutions-"):
                    assert len(reason) > 60, f"{construct.node.path} {rule}: give a specific reason"
                    found.add((construct.node.path, rule))
    deployment = {(path, rule) for path, rule in found if path.startswith(BUCKET_DEPLOYMENT)}
    assert bool(deployment) == FRONTEND_DIST.is_dir()
    assert all(rule.split("[")[0] in DEPLOYMENT_RULES for _, rule in deployment), deployment
    found -= deployment
    functions = {path for path, _ in found if path.endswith("/Function")}
    expected = set(ACKNOWLEDGED)
    for function_path in functions:
        base = function_path.rsplit("/", 1)[0]
        expected |= {(f"{base}/{child}", rule) for rule, child in PER_FUNCTION.items()}
    assert functions and found == expected
