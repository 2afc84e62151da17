"""Web: the operator API (API Gateway REST API + Lambda running the Chalice app) and the UI (S3 + CloudFront).

Why not Chalice's CDK construct (``chalice.cdk.Chalice``): it runs ``chalice package`` inside the
construct, i.e. a pip download of the API's requirement set on every synth, including every in-process
synth of the infra tests, and it needs network access to do so. Instead the API is built here from the
same definitions Chalice would use: one API Gateway resource and method per route of the app's route
table (``tradeops.api.app.build_table``, the table the Chalice app registers), each a Lambda proxy
integration of ``functions/api/app.py``'s ``app`` (a Chalice app is a Lambda handler for API Gateway
proxy events and dispatches on the resource path, which is why the resources mirror the routes exactly
rather than using ``{proxy+}``). The code is bundled like every function (infra/bundling.py) with
Chalice's two runtime modules vendored, as ``chalice package`` does; bundling is skipped in tests.

* Auth: a Cognito user-pool authorizer (the operators' pool of the security stack) on every route the
  table does not declare public (login configuration, login, OpenAPI document); the app verifies every
  token and role itself as well. The UI's app client (hosted UI, implicit grant, as the frontend does)
  and the hosted UI domain are created here.
* Least privilege: the API role reads what the views show and writes only control, limits, proposals,
  alerts and reconciliation breaks, appends to the journal (``PutItem`` only), publishes to the bus and
  reads the WORM archive for ``GET /api/audit/verify``.
* The stage logs access as JSON and errors to CloudWatch, never request bodies (data tracing off:
  bodies and headers would carry tokens), and throttles.
* UI: a private bucket (SSE-S3: public static assets; KMS would need CloudFront in the key policy),
  TLS only, reached only through CloudFront with origin access control. The distribution redirects HTTP
  to HTTPS, adds security headers (strict CSP, HSTS, nosniff, frame DENY, no referrer), sends ``/api/*``
  to the API (no caching, every viewer header but Host forwarded, so ``Authorization`` reaches API
  Gateway) and logs access. The SPA fallback is a CloudFront Function on the UI behaviour only: a path
  without a file extension is served ``/index.html``; distribution-wide error responses would also turn
  the API's 403/404 into the UI page.
* Assets: ``frontend/dist`` is deployed with a ``BucketDeployment`` when it exists at synth time; run
  ``make frontend`` before ``make synth`` / deploy, otherwise the stack synthesizes without the assets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.bundling import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, ROOT, chalice_app_code
from infra.constructs.access import grant_tables
from infra.constructs.archive import grant_worm_read
from infra.constructs.web_acks import acknowledge_web_findings
from infra.context import runtime_environment
from infra.stacks.data import DataStack
from tradeops.api.app import build_table

API_NAME = "tradeops-api"
API_STAGE = "api"
"""The stage name, so CloudFront's ``/api/<route>`` maps to the stage's ``/api/<route>`` resource."""
FRONTEND_DIST = ROOT / "frontend" / "dist"
API_TABLES_READ = ("orders", "fills", "positions", "snapshots", "leases", "recon_runs", "journal")
API_TABLES_WRITE = ("control", "limits", "limit_proposals", "alerts", "recon_breaks", "journal")
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "upgrade-insecure-requests",
    )
)
SPA_FALLBACK = """function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.lastIndexOf('.') <= uri.lastIndexOf('/')) {
    request.uri = '/index.html';
  }
  return request;
}"""
LOG_RETENTION_DAYS = 365


class WebStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataStack,
        bus: events.IEventBus,
        user_pool: cognito.IUserPool,
        frontend_dist: Path | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.logs_bucket = s3.Bucket(
            self,
            "Logs",
            # CloudFront standard logs are written with ACLs, and log delivery needs SSE-S3.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(LOG_RETENTION_DAYS))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.site_bucket = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="site/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=API_NAME,
            description="tradeops operator API (the Chalice app's routes)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy=True,
            deploy_options=self._stage_options(),
        )
        self.distribution = self._distribution()
        self.ui_client, hosted_ui_url = self._ui_client(user_pool)
        self.function = self._function(data, bus, user_pool, hosted_ui_url)
        self._routes(user_pool)
        if frontend_dist is not None:
            self.deployment: s3deploy.BucketDeployment | None = s3deploy.BucketDeployment(
                self,
                "Assets",
                sources=[s3deploy.Source.asset(str(frontend_dist))],
                destination_bucket=self.site_bucket,
                distribution=self.distribution,
                distribution_paths=["/*"],
                memory_limit=512,
            )
        else:
            self.deployment = None
        acknowledge_web_findings(self)

    def _stage_options(self) -> apigw.StageOptions:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        return apigw.StageOptions(
            stage_name=API_STAGE,
            access_log_destination=apigw.LogGroupLogDestination(access_logs),
            access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                caller=False,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=True,
            ),
            logging_level=apigw.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,
            metrics_enabled=True,
            tracing_enabled=True,
            throttling_rate_limit=50,
            throttling_burst_limit=100,
        )

    def _distribution(self) -> cloudfront.Distribution:
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            response_headers_policy_name="tradeops-security-headers",
            comment="Strict CSP, HSTS and the usual hardening headers for the operator UI and API.",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), payment=()",
                        override=True,
                    ),
                    cloudfront.ResponseCustomHeader(
                        header="Cross-Origin-Opener-Policy", value="same-origin", override=True
                    ),
                ]
            ),
        )
        spa_fallback = cloudfront.Function(
            self,
            "SpaFallback",
            comment="UI routes (no file extension) are served /index.html",
            code=cloudfront.FunctionCode.from_inline(SPA_FALLBACK),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        # The API by the REST API's id (not its URL, which names the deployment and would make the
        # distribution depend on the Lambda whose environment names this distribution's app client).
        api_origin = origins.HttpOrigin(
            f"{self.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            origin_path=f"/{API_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        return cloudfront.Distribution(
            self,
            "Distribution",
            comment="tradeops operator UI and API",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.logs_bucket,
            log_file_prefix="cloudfront/",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.site_bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=spa_fallback, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                "/api/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    # With caching disabled this forwards Authorization too; Host must be API Gateway's.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=headers,
                )
            },
        )

    def _ui_client(self, user_pool: cognito.IUserPool) -> tuple[cognito.UserPoolClient, str]:
        """The UI's app client (hosted UI, implicit grant as the frontend uses) and its login URL."""
        origin = f"https://{self.distribution.distribution_domain_name}/"
        client = cognito.UserPoolClient(
            self,
            "UiClient",
            user_pool=user_pool,
            user_pool_client_name="tradeops-ui",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(implicit_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[origin],
                logout_urls=[origin],
            ),
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
        prefix = self.node.try_get_context("cognito_domain_prefix") or f"tradeops-ops-{Aws.ACCOUNT_ID}"
        domain = cognito.UserPoolDomain(
            self,
            "HostedUi",
            user_pool=user_pool,
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix),
        )
        return client, f"{domain.base_url()}/login"

    def _function(
        self, data: DataStack, bus: events.IEventBus, user_pool: cognito.IUserPool, hosted_ui_url: str
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            "ApiLogs",
            log_group_name=f"/aws/lambda/{API_NAME}",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "ApiRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{API_NAME}: view reads; control, limits, proposals, alerts, breaks, journal",
        )
        log_group.grant_write(role)
        issuer = f"https://cognito-idp.{Aws.REGION}.amazonaws.com/{user_pool.user_pool_id}"
        function = lambda_.Function(
            self,
            "ApiFunction",
            function_name=API_NAME,
            description="tradeops operator API (Chalice app behind API Gateway)",
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            code=chalice_app_code("api"),
            handler="app.app",
            timeout=Duration.seconds(30),
            memory_size=512,
            environment={
                **runtime_environment(
                    region=self.region,
                    worm_bucket=data.worm_bucket.bucket_name,
                    reports_bucket=data.reports_bucket.bucket_name,
                ),
                "POWERTOOLS_SERVICE_NAME": API_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": "tradeops",
                "TRADEOPS_COGNITO_ISSUER": issuer,
                "TRADEOPS_COGNITO_CLIENT_ID": self.ui_client.user_pool_client_id,
                "TRADEOPS_COGNITO_HOSTED_UI_URL": hosted_ui_url,
            },
            role=role,
            log_group=log_group,
        )
        grant_tables(role, data.tables, data.table_key, read=API_TABLES_READ, write=API_TABLES_WRITE)
        bus.grant_put_events_to(role)
        grant_worm_read(role, data.worm_bucket, data.bucket_key)  # GET /api/audit/verify
        return function

    def _routes(self, user_pool: cognito.IUserPool) -> None:
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            authorizer_name="tradeops-operators",
            cognito_user_pools=[user_pool],
            results_cache_ttl=Duration.minutes(5),
        )
        # One invoke permission for the whole API rather than one per method (and its test-invoke twin).
        integration = apigw.LambdaIntegration(self.function, scope_permission_to_method=False)
        for route in build_table().routes:
            resource = self.api.root.resource_for_path(route.path)
            if route.public:
                resource.add_method(
                    route.method, integration, authorization_type=apigw.AuthorizationType.NONE
                )
            else:
                resource.add_method(
                    route.method,
                    integration,
                    authorizer=authorizer,
                    authorization_type=apigw.AuthorizationType.COGNITO,
                )
