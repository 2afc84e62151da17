"""Network, security and observability stacks."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from infra.app import cdk_json_context
from infra.context import NAMES, DeployContext
from infra.stacks.observability import ObservabilityStack

from tradeops.domain.roles import ROLES

from .conftest import Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

NETWORK = "TradeopsNetwork"
PAGING = {
    "pagerduty_url": "https://events.pagerduty.com/integration/0123/enqueue",
    "slack_workspace_id": "T0123ABCD",
    "slack_channel_id": "C0123ABCD",
}


def _service_name(endpoint: dict[str, Any]) -> str:
    parts = endpoint["Properties"]["ServiceName"]["Fn::Join"][1]
    return str(parts[-1]).rsplit(".", 1)[-1]


def test_vpc_spans_two_azs_with_private_egress_subnets_and_flow_logs(synth: Synth) -> None:
    subnets = synth.resources("AWS::EC2::Subnet", NETWORK)
    private = [s for s in subnets.values() if s["Properties"]["MapPublicIpOnLaunch"] is False]
    assert len(private) == 2
    assert {s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in private} == {0, 1}
    assert len(synth.resources("AWS::EC2::NatGateway", NETWORK)) == 2
    (flow_log,) = synth.resources("AWS::EC2::FlowLog", NETWORK).values()
    assert flow_log["Properties"]["TrafficType"] == "ALL"


def test_vpc_endpoints(synth: Synth) -> None:
    endpoints = synth.resources("AWS::EC2::VPCEndpoint", NETWORK).values()
    gateway = {_service_name(e) for e in endpoints if e["Properties"].get("VpcEndpointType") == "Gateway"}
    interface = {_service_name(e) for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"}
    assert gateway == {"dynamodb", "s3"}
    assert interface == {"secretsmanager", "sqs", "events", "logs"}


def test_exchange_secret_is_kms_encrypted(synth: Synth) -> None:
    secret = synth.resource(synth.find("AWS::SecretsManager::Secret", Name=NAMES.exchange_secret_id))
    assert "KmsKeyId" in secret["Properties"]
    assert secret["DeletionPolicy"] == "Retain"


def test_user_pool_has_the_five_role_groups_mfa_and_a_strong_password_policy(synth: Synth) -> None:
    (pool,) = synth.resources("AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["MfaConfiguration"] == "ON"
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14
    assert all(
        policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert props["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"
    groups = {g["Properties"]["GroupName"] for g in synth.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == set(ROLES) == {"viewer", "trader", "risk", "admin", "auditor"}


def test_alarm_topic_is_encrypted_tls_only_and_pages_nowhere_by_default(synth: Synth) -> None:
    topic = synth.resource(synth.find("AWS::SNS::Topic", TopicName=NAMES.alarm_topic_name))
    assert "KmsMasterKeyId" in topic["Properties"]
    (policy,) = synth.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    assert not synth.resources("AWS::SNS::Subscription")
    assert not synth.resources("AWS::Chatbot::SlackChannelConfiguration")


def test_paging_is_wired_only_from_context() -> None:
    app = App(context={**cdk_json_context(), **PAGING})
    stack = ObservabilityStack(app, "Observability", context=DeployContext.of(app))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "https", "Endpoint": PAGING["pagerduty_url"]}
    )
    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {
            "SlackWorkspaceId": PAGING["slack_workspace_id"],
            "SlackChannelId": PAGING["slack_channel_id"],
            "SnsTopicArns": [Match.any_value()],
        },
    )


@pytest.mark.parametrize(
    "context",
    [
        {"pagerduty_url": "http://insecure.example"},
        {"slack_workspace_id": "T0123ABCD"},
        {"slack_channel_id": "C0123ABCD"},
    ],
)
def test_bad_paging_context_is_refused(context: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"pagerduty_url|slack"):
        DeployContext.of(App(context={**cdk_json_context(), **context}))
