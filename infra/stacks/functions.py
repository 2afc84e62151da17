"""Functions: the ``tradeops`` event bus, the queues, the Lambdas and the rules, all from tradeops.routes.

- every ``QueueSpec`` -> an SQS queue (``Settings.queue_name``) with its dead-letter queue, all
  encrypted with this stack's queue key;
- every ``FunctionSpec`` -> a ``TradeopsFunction`` with exactly the table, bus and secret access the
  spec declares (the one WORM writer's role has the fixed name the bucket policy admits);
- every ``RuleSpec`` -> a rule on the bus with its one target; a Lambda target retries and then
  dead-letters into the events DLQ, a queue target likewise;
- every ``ScheduleSpec`` -> a scheduled rule (default bus: schedules cannot live on a custom bus);
- rules matching AWS-sourced events (``aws.*``, e.g. CloudWatch alarm state changes) are mirrored on
  the default bus, where AWS emits them, forwarding to the tradeops bus.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.access import grant_secret_read, grant_tables
from infra.constructs.alert_alarms import critical_alerts_alarm
from infra.constructs.archive import add_stream_source, grant_worm_write, worm_writer_role_name
from infra.constructs.function import TradeopsFunction
from infra.constructs.patterns import event_pattern
from infra.constructs.queues import dead_letter_alarm, queue_key, secure_queue
from infra.constructs.recon_alarms import ReconAlarms
from infra.constructs.rotation import ExchangeKeyRotation
from infra.context import NAMES, construct_name, runtime_environment
from infra.stacks.data import DataStack
from tradeops.routes import FUNCTIONS, QUEUES, QUEUES_BY_NAME, RULES, SCHEDULES, QueueSpec, RuleSpec, validate

ARCHIVE_RETENTION = Duration.days(90)
TARGET_RETRIES = 8
TARGET_MAX_EVENT_AGE = Duration.hours(2)


def rule_name(spec: RuleSpec) -> str:
    return f"tradeops-{spec.name}"


def is_aws_sourced(spec: RuleSpec) -> bool:
    """True when the rule matches only events AWS services emit (on the default bus)."""
    sources = spec.pattern.get("source", [])
    return bool(sources) and all(isinstance(s, str) and s.startswith("aws.") for s in sources)


class FunctionsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataStack,
        exchange_secret: secretsmanager.ISecret,
        secret_key: kms.IKey,
        alarm_topic: sns.ITopic,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        validate()
        self.alarm_topic = alarm_topic
        self.bus = events.EventBus(self, "Bus", event_bus_name=NAMES.bus_name)
        self.bus.archive(
            "Archive",
            archive_name=NAMES.bus_name,
            description="Every event on the tradeops bus, for replay.",
            event_pattern=events.EventPattern(account=[self.account]),
            retention=ARCHIVE_RETENTION,
        )
        self.queue_key = queue_key(self, "QueueKey")
        self.events_dlq = secure_queue(self, "EventsDlq", key=self.queue_key)
        Validations.of(self.events_dlq).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue of every EventBridge target; cdk-nag only "
                "recognizes DLQs named in a redrive policy.",
            )
        )
        dead_letter_alarm(self, "EventsDlqAlarm", self.events_dlq, alarm_topic, "EventBridge targets")

        self.queues = {spec.name: self._queue(spec) for spec in QUEUES}

        environment = runtime_environment(
            region=self.region,
            worm_bucket=data.worm_bucket.bucket_name,
            reports_bucket=data.reports_bucket.bucket_name,
        )
        worm_writers = [spec.name for spec in FUNCTIONS if spec.writes_worm_bucket]
        if len(worm_writers) > 1:  # the bucket policy admits exactly one role name
            raise ValueError(f"only one function may write the WORM bucket, not {worm_writers}")
        self.functions: dict[str, lambda_.IFunction] = {}
        for spec in FUNCTIONS:
            built = TradeopsFunction(
                self,
                construct_name(spec.name),
                spec=spec,
                environment=environment,
                alarm_topic=alarm_topic,
                queue_key=self.queue_key,
                role_name=worm_writer_role_name() if spec.writes_worm_bucket else None,
            )
            grant_tables(
                built.function, data.tables, data.table_key, read=spec.tables_read, write=spec.tables_write
            )
            if spec.publishes_events:
                self.bus.grant_put_events_to(built.function)
            if spec.rotates_exchange_secret:  # in the secret's stack: its grants, invoke permission, schedule
                ExchangeKeyRotation(
                    Stack.of(exchange_secret),
                    "ExchangeKeyRotation",
                    secret=exchange_secret,
                    key=secret_key,
                    function=built.function,
                )
            elif spec.reads_exchange_secret and built.function.role is not None:
                # Granted in the secret's stack, like the rotation: that stack already depends on this
                # one (the rotation role), so this stack must not refer to the secret or its key.
                reader = iam.Role.from_role_arn(
                    Stack.of(exchange_secret),
                    f"{construct_name(spec.name)}SecretReader",
                    built.function.role.role_arn,
                    mutable=True,
                )
                grant_secret_read(reader, exchange_secret, secret_key)
            if spec.stream_table:
                add_stream_source(built.function, data.tables[spec.stream_table], built.dead_letter_queue)
            if spec.writes_worm_bucket:
                grant_worm_write(built.function, data.worm_bucket, data.bucket_key)
            self.functions[spec.name] = built.function

        self.recon_alarms = ReconAlarms(self, "ReconAlarms", topic=alarm_topic)
        self.critical_alerts = critical_alerts_alarm(self, "CriticalAlertsAlarm", alarm_topic)

        for rule in RULES:
            self._rule(rule)
            if is_aws_sourced(rule):
                self._forward_from_default_bus(rule)
        for schedule in SCHEDULES:
            events.Rule(
                self,
                f"Schedule{construct_name(schedule.name)}",
                rule_name=f"tradeops-schedule-{schedule.name}",
                description=schedule.doc or None,
                schedule=events.Schedule.expression(schedule.expression),
                targets=[self._function_target(schedule.function, schedule.input or None)],
            )

    def _queue(self, spec: QueueSpec) -> sqs.Queue:
        suffix = ".fifo" if spec.fifo else ""
        dlq = secure_queue(
            self,
            f"{construct_name(spec.name)}Dlq",
            key=self.queue_key,
            queue_name=NAMES.queue_name(spec.dlq_name) + suffix,
            fifo=spec.fifo,
        )
        dead_letter_alarm(
            self, f"{construct_name(spec.name)}DlqAlarm", dlq, self.alarm_topic, f"queue {spec.name}"
        )
        return secure_queue(
            self,
            f"{construct_name(spec.name)}Queue",
            key=self.queue_key,
            queue_name=NAMES.queue_name(spec.name) + suffix,
            fifo=spec.fifo,
            retention=Duration.days(spec.retention_days),
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=spec.max_receive_count, queue=dlq),
        )

    def _function_target(self, name: str, payload: dict[str, Any] | None = None) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            self.functions[name],
            event=events.RuleTargetInput.from_object(payload) if payload else None,
            dead_letter_queue=self.events_dlq,
            retry_attempts=TARGET_RETRIES,
            max_event_age=TARGET_MAX_EVENT_AGE,
        )

    def _rule(self, spec: RuleSpec) -> events.Rule:
        target: events.IRuleTarget
        if spec.function is not None:
            target = self._function_target(spec.function)
        elif spec.queue is not None:
            target = targets.SqsQueue(
                self.queues[spec.queue],
                message_group_id=spec.name if QUEUES_BY_NAME[spec.queue].fifo else None,
                dead_letter_queue=self.events_dlq,
                retry_attempts=TARGET_RETRIES,
                max_event_age=TARGET_MAX_EVENT_AGE,
            )
        else:
            raise ValueError(f"rule {spec.name} has no target")
        return events.Rule(
            self,
            f"Rule{construct_name(spec.name)}",
            rule_name=rule_name(spec),
            description=spec.doc[:512] or None,
            event_bus=self.bus,
            event_pattern=event_pattern(spec.pattern),
            targets=[target],
        )

    def _forward_from_default_bus(self, spec: RuleSpec) -> events.Rule:
        return events.Rule(
            self,
            f"Forward{construct_name(spec.name)}",
            rule_name=f"tradeops-forward-{spec.name}",
            description=f"Forwards {spec.name} events from the default bus to the tradeops bus.",
            event_pattern=event_pattern(spec.pattern),
            targets=[targets.EventBus(self.bus, dead_letter_queue=self.events_dlq)],
        )
