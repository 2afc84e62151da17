"""Security: the exchange API key secret and the operators' Cognito user pool.

The secret (name ``Settings.exchange_secret_id``) holds ``{"apiKey", "secret"}``; operators set
its value after the first deploy. Its rotation schedule, with the rotate_secret function, is added to
this stack by the functions stack (``infra.constructs.rotation.ExchangeKeyRotation``).
The user pool has one group per operator role (DESIGN 4.5): sign-up is closed,
TOTP MFA is required, passwords are long and mixed, and threat protection is enforced.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.context import NAMES
from tradeops.domain.roles import ROLES


class SecurityStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.secret_key = kms.Key(
            self,
            "SecretKey",
            alias="alias/tradeops/secrets",
            description="tradeops exchange credentials",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.exchange_secret = secretsmanager.Secret(
            self,
            "ExchangeSecret",
            secret_name=NAMES.exchange_secret_id,
            description="Exchange API credentials as JSON {apiKey, secret}; staged by operators, rotated.",
            encryption_key=self.secret_key,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.user_pool = cognito.UserPool(
            self,
            "Operators",
            user_pool_name="tradeops-operators",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for role in ROLES:
            cognito.UserPoolGroup(
                self,
                f"Group{role.capitalize()}",
                user_pool=self.user_pool,
                group_name=role,
                description=f"tradeops operator role {role}",
            )
