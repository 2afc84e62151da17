"""Gateway: the Fargate service that holds the exchange sockets (``python -m tradeops.gateway``).

Two tasks in two AZs, active and standby: the lease in DynamoDB (fenced) makes exactly one of them
trade, the other takes over when the lease lapses. Deployments are rolling (min 50 %, max 200 %) with
the circuit breaker rolling back a release whose tasks fail their /healthz check. No inbound traffic
at all; outbound only HTTPS/WSS (443, and 9443 for Binance's market streams) and the VPC endpoints.

The task role is least privilege, and the journal is writable by ``PutItem`` only (the conditional
append of DESIGN 4.3), readable by ``GetItem``/``Query`` to find its head: no UpdateItem, DeleteItem or
BatchWriteItem (infra/constructs/access.py).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Size, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ROOT
from infra.constructs.access import grant_secret_read, grant_tables
from infra.constructs.queues import grant_queue_key, page_on, without_key
from infra.context import NAMES, construct_name, runtime_environment
from infra.stacks.data import DataStack
from tradeops.routes import QUEUES_BY_NAME

HEALTH_PORT = 8080
EGRESS_PORTS = (443, 9443)
DESIRED_TASKS = 2
TABLES_READ_WRITE = ("orders", "fills", "positions", "balances", "snapshots", "leases")
TABLES_READ = ("control", "limits", "accounts")
HEALTH_URL = f"http://127.0.0.1:{HEALTH_PORT}/healthz"
HEALTH_COMMAND = (
    "import sys, urllib.request; "
    f"sys.exit(0 if urllib.request.urlopen('{HEALTH_URL}', timeout=3).status == 200 else 1)"
)


class GatewayStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        data: DataStack,
        bus: events.IEventBus,
        intents_queue: sqs.IQueue,
        queue_key: kms.IKey,
        exchange_secret: secretsmanager.ISecret,
        secret_key: kms.IKey,
        alarm_topic: sns.ITopic,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name="tradeops",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name="/tradeops/gateway",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="tradeops gateway: OMS, journal writer, market data",
        )
        grant_tables(
            task_role, data.tables, data.table_key, read=("journal", *TABLES_READ), write=("journal",)
        )
        grant_tables(task_role, data.tables, data.table_key, read=TABLES_READ_WRITE, write=TABLES_READ_WRITE)
        bus.grant_put_events_to(task_role)
        without_key(self, "IntentsQueue", intents_queue).grant_consume_messages(task_role)
        # The intake moves rejected intents to the DLQ itself (with the reason); the gateway applies what
        # others ask of it from the gateway-events queue. Both are looked up by their physical names.
        self._queue("intents-dlq", QUEUES_BY_NAME["intents"].dlq_name).grant_send_messages(task_role)
        self._queue("gateway-events", QUEUES_BY_NAME["gateway-events"].name).grant_consume_messages(task_role)
        grant_queue_key(task_role, queue_key, send=True)  # consume intents and events, dead-letter intents
        grant_secret_read(task_role, exchange_secret, secret_key)

        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            family="tradeops-gateway",
            cpu=1024,
            memory_limit_mib=2048,
            task_role=task_role,
            # x86_64 so the image builds natively on common CI runners (no QEMU); ccxt is pure Python.
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        task.add_container(
            "gateway",
            image=ecs.ContainerImage.from_asset(
                str(ROOT), file="containers/gateway/Dockerfile", platform=ecr_assets.Platform.LINUX_AMD64
            ),
            environment={
                **runtime_environment(
                    region=self.region,
                    worm_bucket=data.worm_bucket.bucket_name,
                    reports_bucket=data.reports_bucket.bucket_name,
                ),
                "TRADEOPS_GATEWAY_HEALTH_PORT": str(HEALTH_PORT),  # the port the health check probes
            },
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="gateway",
                log_group=log_group,
                # Never stall the order path on CloudWatch; the journal, not the log, is the record.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=Size.mebibytes(25),
            ),
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", HEALTH_COMMAND],
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(60),
            ),
            port_mappings=[ecs.PortMapping(container_port=HEALTH_PORT, name="health")],
            stop_timeout=Duration.seconds(30),
        )
        Validations.of(task.obtain_execution_role()).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The execution role's ecr:GetAuthorizationToken has no resource-level permissions "
                "(AWS requires Resource *); image pulls and log writes are scoped to the asset repository "
                "and the gateway log group.",
            )
        )
        Validations.of(task).acknowledge(
            Acknowledgment(
                id="AwsSolutions-ECS2",
                reason="The environment holds only resource names (TRADEOPS_* settings: table prefix, bus, "
                "buckets, secret id), no credentials; the exchange key is read from Secrets Manager at run "
                "time by the task role.",
            )
        )

        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="tradeops gateway: no ingress, HTTPS/WSS egress only",
            allow_all_outbound=False,
        )
        for port in EGRESS_PORTS:
            security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"exchange and AWS on {port}"
            )
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name="tradeops-gateway",
            cluster=self.cluster,
            task_definition=task,
            desired_count=DESIRED_TASKS,
            min_healthy_percent=50,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, one_per_az=True),
            security_groups=[security_group],
            assign_public_ip=False,
            availability_zone_rebalancing=ecs.AvailabilityZoneRebalancing.ENABLED,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self._alarms(alarm_topic)

    def _alarms(self, topic: sns.ITopic) -> None:
        running = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={
                "ClusterName": self.cluster.cluster_name,
                "ServiceName": self.service.service_name,
            },
            period=Duration.minutes(1),
            statistic=cloudwatch.Stats.MINIMUM,
        )
        for construct_id, threshold, periods, what in (
            ("NoGateway", 1, 2, "No gateway task running: trading is down."),
            (
                "NoStandby",
                DESIRED_TASKS,
                5,
                "Fewer than two gateway tasks: no standby to take over the lease.",
            ),
        ):
            alarm = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=f"tradeops-gateway-{construct_id.lower()}",
                alarm_description=what,
                metric=running,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            )
            page_on(alarm, topic)

    def _queue(self, construct: str, logical: str) -> sqs.IQueue:
        """A queue of the functions stack by its physical name (``routes.QUEUES``, same account/region)."""
        arn = self.format_arn(service="sqs", resource=NAMES.queue_name(logical))
        return sqs.Queue.from_queue_arn(self, f"{construct_name(construct)}Queue", arn)
