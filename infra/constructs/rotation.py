"""The exchange-key secret's rotation schedule, wired to the rotate_secret function.

Built in the secret's own stack (cdk-nag's SMG4 looks for the schedule next to the secret). Everything
that names the secret lives there too: the schedule, the function's policy on that one secret and its
key, and the permission for Secrets Manager (from that secret only) to invoke the function. The
functions stack therefore never references the security stack for this function, and the dependency
runs one way (security -> functions): no cycle.

Context: ``exchange_key_rotation_days`` (default 30) and ``exchange_key_revoke_grace_s`` (default
3600, how long the old key stays valid after a rotation; the function reads ROTATION_REVOKE_GRACE_S).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

DEFAULT_ROTATION_DAYS = 30
DEFAULT_REVOKE_GRACE_S = 3600
ROTATION_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
ROTATION_KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
SECRETS_MANAGER = "secretsmanager.amazonaws.com"


def _positive_int(scope: Construct, name: str, default: int) -> int:
    value = scope.node.try_get_context(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"context {name} must be a positive integer, got {value!r}")
    return value


class ExchangeKeyRotation(Construct):
    """Rotate ``secret`` on schedule with ``function``; ``scope`` must be the secret's stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret: secretsmanager.ISecret,
        key: kms.IKey,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        via_secrets_manager = f"secretsmanager.{Stack.of(self).region}.amazonaws.com"
        days = _positive_int(self, "exchange_key_rotation_days", DEFAULT_ROTATION_DAYS)
        grace_s = _positive_int(self, "exchange_key_revoke_grace_s", DEFAULT_REVOKE_GRACE_S)
        if function.role is None:
            raise ValueError("the rotation function needs an execution role")
        if isinstance(function, lambda_.Function):
            function.add_environment("ROTATION_REVOKE_GRACE_S", str(grace_s))
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[function.role],
            statements=[
                iam.PolicyStatement(actions=list(ROTATION_ACTIONS), resources=[secret.secret_arn]),
                iam.PolicyStatement(
                    actions=list(ROTATION_KMS_ACTIONS),
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": via_secrets_manager}},
                ),
            ],
        )
        self.permission = lambda_.CfnPermission(
            self,
            "InvokeBySecretsManager",
            action="lambda:InvokeFunction",
            function_name=function.function_arn,
            principal=SECRETS_MANAGER,
            source_arn=secret.secret_arn,
        )
        self.schedule = secretsmanager.CfnRotationSchedule(
            self,
            "Schedule",
            secret_id=secret.secret_arn,
            rotation_lambda_arn=function.function_arn,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                automatically_after_days=days
            ),
            rotate_immediately_on_update=False,
        )
        self.schedule.node.add_dependency(self.permission, self.policy)
