"""SQS queues the way every tradeops queue is built, and alarms on dead-letter queues.

Every queue is SSE-SQS encrypted (server-side, no key policy to share with EventBridge and Lambda)
and refuses non-TLS requests. A message in any dead-letter queue is an incident: it pages.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RETENTION = Duration.days(14)


def secure_queue(
    scope: Construct,
    construct_id: str,
    *,
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
        encryption=sqs.QueueEncryption.SQS_MANAGED,
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
