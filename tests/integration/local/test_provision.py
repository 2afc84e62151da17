"""provision() on moto creates every resource the platform needs, from the same definitions as CDK."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.roles import ROLES
from tradeops.local.provision import DEMO_USERS, ProvisionedResources, provision
from tradeops.routes import FUNCTIONS, FUNCTIONS_BY_NAME, QUEUES, RULES
from tradeops.store.tables import TABLES


@pytest.fixture
def provisioned(aws_settings: Settings) -> ProvisionedResources:
    return provision(aws_settings, demo_password="Demo-password-1")


def test_tables_exist_with_their_physical_names(
    aws_settings: Settings, provisioned: ProvisionedResources
) -> None:
    dynamodb = client("dynamodb", aws_settings)
    pages = dynamodb.get_paginator("list_tables").paginate()
    existing = {name for page in pages for name in page["TableNames"]}
    assert provisioned.tables == {t.name: aws_settings.table_name(t) for t in TABLES}
    assert set(provisioned.tables.values()) <= existing


def test_worm_bucket_is_versioned_with_compliance_default_retention(
    aws_settings: Settings, provisioned: ProvisionedResources
) -> None:
    s3 = client("s3", aws_settings)
    lock = s3.get_object_lock_configuration(Bucket=aws_settings.worm_bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 2555
    assert s3.get_bucket_versioning(Bucket=aws_settings.worm_bucket)["Status"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=aws_settings.reports_bucket)["Status"] == "Enabled"
    assert provisioned.buckets == {"worm": aws_settings.worm_bucket, "reports": aws_settings.reports_bucket}


def test_retention_comes_from_the_parameter(aws_settings: Settings) -> None:
    provision(aws_settings, worm_retention_days=7)
    lock = client("s3", aws_settings).get_object_lock_configuration(Bucket=aws_settings.worm_bucket)
    assert lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 7


def _attributes(settings: Settings, url: str) -> dict[str, str]:
    attrs: dict[str, str] = client("sqs", settings).get_queue_attributes(
        QueueUrl=url, AttributeNames=["All"]
    )["Attributes"]
    return attrs


def test_every_queue_has_a_dlq_with_the_redrive_policy(
    aws_settings: Settings, provisioned: ProvisionedResources
) -> None:
    expected = {q.name: q.max_receive_count for q in QUEUES} | {f.queue_name: 5 for f in FUNCTIONS}
    for logical, max_receives in expected.items():
        redrive = json.loads(_attributes(aws_settings, provisioned.queues[logical])["RedrivePolicy"])
        dlq_arn = _attributes(aws_settings, provisioned.queues[f"{logical}-dlq"])["QueueArn"]
        assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}
    fn_queue = _attributes(aws_settings, provisioned.queues["fn-alerts"])
    assert fn_queue["VisibilityTimeout"] == str(6 * FUNCTIONS_BY_NAME["alerts"].timeout_s)


def test_rules_and_targets_equal_the_routing_data(
    aws_settings: Settings, provisioned: ProvisionedResources
) -> None:
    events = client("events", aws_settings)
    rules = events.list_rules(EventBusName=aws_settings.bus_name)["Rules"]
    assert {r["Name"] for r in rules} == {r.name for r in RULES}
    by_name = {r["Name"]: r for r in rules}
    for spec in RULES:
        assert json.loads(by_name[spec.name]["EventPattern"]) == spec.pattern
        assert by_name[spec.name]["State"] == "ENABLED"
        targets = events.list_targets_by_rule(Rule=spec.name, EventBusName=aws_settings.bus_name)["Targets"]
        logical = FUNCTIONS_BY_NAME[spec.function].queue_name if spec.function else str(spec.queue)
        queue_arn = _attributes(aws_settings, provisioned.queues[logical])["QueueArn"]
        assert [t["Arn"] for t in targets] == [queue_arn]
        policy = json.loads(_attributes(aws_settings, provisioned.queues[logical])["Policy"])
        assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


def test_secret_topic_and_bus(aws_settings: Settings, provisioned: ProvisionedResources) -> None:
    value = client("secretsmanager", aws_settings).get_secret_value(SecretId=aws_settings.exchange_secret_id)
    keys = json.loads(value["SecretString"])
    assert (
        set(keys) == {"apiKey", "secret"} and len(keys["apiKey"]) == 64 and keys["apiKey"] != keys["secret"]
    )
    topics = client("sns", aws_settings).list_topics()["Topics"]
    assert provisioned.alarm_topic_arn in {t["TopicArn"] for t in topics}
    assert provisioned.alarm_topic_arn.endswith(f":{aws_settings.alarm_topic_name}")
    bus = client("events", aws_settings).describe_event_bus(Name=aws_settings.bus_name)
    assert bus["Arn"] == provisioned.bus_arn


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_cognito_groups_demo_users_and_jwks(
    aws_settings: Settings, provisioned: ProvisionedResources
) -> None:
    assert provisioned.cognito is not None
    pool, client_id = provisioned.cognito.user_pool_id, provisioned.cognito.client_id
    idp = client("cognito-idp", aws_settings)
    assert {g["GroupName"] for g in idp.list_groups(UserPoolId=pool)["Groups"]} == set(ROLES)
    assert [u.groups for u in provisioned.demo_users] == [groups for _, groups in DEMO_USERS]
    for user in provisioned.demo_users:
        tokens = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )["AuthenticationResult"]
        claims = _claims(tokens["IdToken"])
        assert claims["cognito:groups"] == list(user.groups)
        assert claims["iss"] == provisioned.cognito.issuer
    with urllib.request.urlopen(provisioned.cognito.jwks_url, timeout=5) as response:
        assert json.load(response)["keys"][0]["alg"] == "RS256"


def test_provisioning_again_is_idempotent(aws_settings: Settings, provisioned: ProvisionedResources) -> None:
    secret_before = client("secretsmanager", aws_settings).get_secret_value(
        SecretId=aws_settings.exchange_secret_id
    )
    again = provision(aws_settings, demo_password="Other-password-2")
    secret_after = client("secretsmanager", aws_settings).get_secret_value(
        SecretId=aws_settings.exchange_secret_id
    )
    assert again.cognito == provisioned.cognito
    assert again.queues == provisioned.queues
    assert secret_after["SecretString"] == secret_before["SecretString"]
    idp = client("cognito-idp", aws_settings)
    assert provisioned.cognito is not None
    auth = idp.admin_initiate_auth(
        UserPoolId=provisioned.cognito.user_pool_id,
        ClientId=provisioned.cognito.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": again.demo_users[0].username, "PASSWORD": "Other-password-2"},
    )
    assert "AccessToken" in auth["AuthenticationResult"]


def test_refuses_settings_without_an_endpoint() -> None:
    with pytest.raises(ValueError, match="aws_endpoint_url"):
        provision(Settings(aws_endpoint_url=None))
