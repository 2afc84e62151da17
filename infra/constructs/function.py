"""One Lambda function from a ``FunctionSpec``: code, role, logs, on-failure DLQ and alarms.

python3.12 on arm64 (Graviton), code bundled locally (infra/bundling.py). Asynchronous invocations
(EventBridge rules and schedules) retry twice, then the event and its error land in a KMS-encrypted
dead-letter queue; both an invocation error and a dead-lettered event page through the alarm topic.
The role starts empty: the stack grants exactly what the spec declares.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.bundling import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, function_code
from infra.constructs.queues import dead_letter_alarm, grant_queue_key, page_on, secure_queue, without_key
from tradeops.routes import FunctionSpec

ASYNC_RETRIES = 2
MAX_EVENT_AGE = Duration.hours(6)


def function_name(spec: FunctionSpec) -> str:
    return f"tradeops-{spec.name}"


def lambda_environment(spec: FunctionSpec, environment: Mapping[str, str]) -> dict[str, str]:
    """The function's environment: the ``TRADEOPS_*`` settings plus its powertools identity."""
    return {
        **environment,
        "POWERTOOLS_SERVICE_NAME": function_name(spec),
        "POWERTOOLS_METRICS_NAMESPACE": "tradeops",
    }


class TradeopsFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        alarm_topic: sns.ITopic,
        queue_key: kms.IKey,
        role_name: str | None = None,
    ) -> None:
        """``queue_key`` encrypts the on-failure queue; ``role_name`` fixes the role name (None: CDK's)."""
        super().__init__(scope, construct_id)
        name = function_name(spec)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            role_name=role_name,
            description=f"{name}: grants from its FunctionSpec only",
        )
        self.log_group.grant_write(self.role)
        self.dead_letter_queue = secure_queue(self, "Failures", key=queue_key)
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the function's on-failure destination (a dead-letter queue); "
                "cdk-nag only recognizes DLQs named in a redrive policy.",
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description=spec.doc[:256],
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            code=function_code(spec.name),
            handler=spec.handler,
            timeout=Duration.seconds(spec.timeout_s),
            memory_size=spec.memory_mb,
            environment=lambda_environment(spec, environment),
            role=self.role,
            log_group=self.log_group,
            on_failure=destinations.SqsDestination(
                without_key(self, "FailuresTarget", self.dead_letter_queue)
            ),
            retry_attempts=ASYNC_RETRIES,
            max_event_age=MAX_EVENT_AGE,
        )
        grant_queue_key(self.role, queue_key, send=True)
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="python3.12 on purpose: the bundle is built with pip --python-version 3.12 and the "
                "requirement set is import-tested against CPython 3.12; a runtime upgrade is a reviewed "
                "change of runtime, bundling target and tests together.",
            )
        )
        self.errors_alarm = page_on(
            cloudwatch.Alarm(
                self,
                "Errors",
                alarm_name=f"{name}-errors",
                alarm_description=f"{name} raised errors; see the log group /aws/lambda/{name}.",
                metric=self.function.metric_errors(
                    period=Duration.minutes(1), statistic=cloudwatch.Stats.SUM
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            alarm_topic,
        )
        dead_letter_alarm(self, "FailuresAlarm", self.dead_letter_queue, alarm_topic, name)
