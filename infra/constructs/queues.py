"""SQS queues the way every tradeops queue is built, and alarms on dead-letter queues.

Every queue is encrypted with a customer-managed KMS key (:func:`queue_key`, one per stack that owns
queues) and refuses non-TLS requests. The key lets EventBridge of this account encrypt the messages it
delivers to rule targets and dead-letter queues; producers and consumers get the key through
``grant_send_messages`` / ``grant_consume_messages``. A message in any dead-letter queue is an
incident: it pages.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RETENTION = Duration.days(14)


def queue_key(scope: Construct, construct_id: str) -> kms.Key:
    """The customer-managed key of the queues in ``scope``'s stack; EventBridge (same account) may use it."""
    key = kms.Key(
        scope,
        construct_id,
        alias=f"alias/tradeops/queues/{Stack.of(scope).stack_name.lower()}",
        description="tradeops queues and dead-letter queues",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowEventBridgeDelivery",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}},
        )
    )
    return key


QUEUE_SEND_KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
QUEUE_CONSUME_KMS_ACTIONS = ("kms:Decrypt",)


def grant_queue_key(grantee: iam.IGrantable, key: kms.IKey, *, send: bool) -> None:
    """Use of a queue key through SQS only, action by action (CDK's key grants add ``kms:ReEncrypt*``)."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(QUEUE_SEND_KMS_ACTIONS if send else QUEUE_CONSUME_KMS_ACTIONS),
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"sqs.{Stack.of(key).region}.amazonaws.com"}},
    )


def without_key(scope: Construct, construct_id: str, queue: sqs.IQueue) -> sqs.IQueue:
    """``queue`` seen without its key, for CDK integrations that grant on it (the caller grants the key)."""
    return sqs.Queue.from_queue_attributes(scope, construct_id, queue_arn=queue.queue_arn)


def secure_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    queue_name: str | None = None,
    fifo: bool = False,
    retention: Duration = MAX_RETENTION,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        fifo=fifo or None,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=retention,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
    )


def page_on(alarm: cloudwatch.Alarm, topic: sns.ITopic) -> cloudwatch.Alarm:
    """Notify the alarm topic when the alarm fires and when it recovers."""
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))
    return alarm


def dead_letter_alarm(
    scope: Construct, construct_id: str, queue: sqs.IQueue, topic: sns.ITopic, what: str
) -> cloudwatch.Alarm:
    """Fires as soon as one message is visible in the dead-letter queue ``queue``."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"Messages in the dead-letter queue of {what}: inspect, fix, redrive.",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    return page_on(alarm, topic)
