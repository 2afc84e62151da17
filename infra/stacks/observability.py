"""Observability: the alarm topic every CloudWatch alarm notifies, and where it pages.

The topic (``Settings.alarm_topic_name``) is KMS-encrypted and TLS-only; its key lets CloudWatch
publish. A PagerDuty HTTPS subscription exists only when the context ``pagerduty_url`` is set, an AWS
Chatbot Slack channel only when ``slack_workspace_id`` and ``slack_channel_id`` are.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.context import NAMES, DeployContext


class ObservabilityStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, context: DeployContext, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(
            self,
            "AlarmTopicKey",
            alias="alias/tradeops/alarms",
            description="tradeops alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=NAMES.alarm_topic_name,
            display_name="tradeops alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if context.pagerduty_url:
            self.alarm_topic.add_subscription(
                subscriptions.UrlSubscription(context.pagerduty_url, protocol=sns.SubscriptionProtocol.HTTPS)
            )
        if context.slack_workspace_id and context.slack_channel_id:
            chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name="tradeops-alarms",
                slack_workspace_id=context.slack_workspace_id,
                slack_channel_id=context.slack_channel_id,
                notification_topics=[self.alarm_topic],
                logging_level=chatbot.LoggingLevel.ERROR,
                # Notifications only: the channel may not run commands against the account.
                guardrail_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchReadOnlyAccess")
                ],
            )
