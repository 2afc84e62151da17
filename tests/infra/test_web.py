"""Web stack: the operator API (every route, Cognito on each non-public one) and the UI (S3 + CloudFront)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_events as events
from cdk_nag import AwsSolutionsChecks
from infra.app import cdk_json_context
from infra.stacks.data import DataStack
from infra.stacks.web import API_STAGE, CONTENT_SECURITY_POLICY, SPA_FALLBACK, WebStack

from tradeops.api.app import build_table

from .conftest import SKIP_BUNDLING, Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

WEB = "TradeopsWeb"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _props(synth: Synth, ref: Ref) -> dict[str, Any]:
    return dict(synth.resource(ref)["Properties"])


def _one(synth: Synth, type_: str) -> Ref:
    [ref] = synth.resources(type_, WEB)
    return ref


def _api_function(synth: Synth) -> Ref:
    return synth.find("AWS::Lambda::Function", FunctionName="tradeops-api")


def _resource_path(synth: Synth, ref: Ref) -> str:
    parts: list[str] = []
    while synth.resource(ref)["Type"] == "AWS::ApiGateway::Resource":
        props = _props(synth, ref)
        parts.insert(0, props["PathPart"])
        parent = props["ParentId"]
        if "Fn::GetAtt" in parent:  # the REST API's root resource
            break
        ref = (WEB, parent["Ref"])
    return "/" + "/".join(parts)


def test_every_route_of_the_table_is_a_method_and_only_public_routes_skip_cognito(synth: Synth) -> None:
    authorizer = _one(synth, "AWS::ApiGateway::Authorizer")
    auth_props = _props(synth, authorizer)
    assert auth_props["Type"] == "COGNITO_USER_POOLS"
    pool = synth.find("AWS::Cognito::UserPool", UserPoolName="tradeops-operators")
    [provider] = auth_props["ProviderARNs"]
    assert synth.resolve(WEB, provider) == pool
    function = _api_function(synth)
    methods: dict[tuple[str, str], dict[str, Any]] = {}
    for method in synth.resources("AWS::ApiGateway::Method", WEB).values():
        props = method["Properties"]
        path = _resource_path(synth, (WEB, props["ResourceId"]["Ref"]))
        methods[(props["HttpMethod"], path)] = props
    routes = build_table().routes
    assert set(methods) == {(r.method, r.path) for r in routes}
    assert any(r.public for r in routes) and any(not r.public for r in routes)
    for route in routes:
        props = methods[(route.method, route.path)]
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert function[1] in json.dumps(integration["Uri"])
        if route.public:
            assert props["AuthorizationType"] == "NONE", route.key
        else:
            assert props["AuthorizationType"] == "COGNITO_USER_POOLS", route.key
            assert synth.resolve(WEB, props["AuthorizerId"]) == authorizer, route.key


def test_the_api_function_runs_the_chalice_app_with_cognito_configuration(synth: Synth) -> None:
    props = _props(synth, _api_function(synth))
    assert props["Handler"] == "app.app"
    assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
    env = props["Environment"]["Variables"]
    client = _one(synth, "AWS::Cognito::UserPoolClient")
    assert synth.resolve(WEB, env["TRADEOPS_COGNITO_CLIENT_ID"]) == client
    assert "cognito-idp." in json.dumps(env["TRADEOPS_COGNITO_ISSUER"])
    assert json.dumps(env["TRADEOPS_COGNITO_HOSTED_UI_URL"]).endswith('/login"]]}')
    assert "TRADEOPS_COGNITO_USER_POOL_ARN" not in env  # API Gateway config is built here, not by Chalice


def test_the_stage_logs_access_not_bodies_and_throttles(synth: Synth) -> None:
    stage = _props(synth, _one(synth, "AWS::ApiGateway::Stage"))
    assert stage["StageName"] == API_STAGE
    assert "requestId" in stage["AccessLogSetting"]["Format"]
    [settings] = stage["MethodSettings"]
    assert settings["DataTraceEnabled"] is False  # request bodies and headers (tokens) never logged
    assert settings["LoggingLevel"] == "ERROR" and settings["ThrottlingRateLimit"] > 0


def test_the_ui_client_uses_the_hosted_ui_and_redirects_to_the_distribution(synth: Synth) -> None:
    client = _props(synth, _one(synth, "AWS::Cognito::UserPoolClient"))
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["implicit"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email"}
    [callback] = client["CallbackURLs"]
    assert synth.resolve(WEB, callback["Fn::Join"][1][1]) == _one(synth, "AWS::CloudFront::Distribution")
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def _distribution(synth: Synth) -> dict[str, Any]:
    return dict(_props(synth, _one(synth, "AWS::CloudFront::Distribution"))["DistributionConfig"])


def test_the_distribution_is_https_only_logs_and_has_no_global_error_pages(synth: Synth) -> None:
    config = _distribution(synth)
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert all(b["ViewerProtocolPolicy"] == "redirect-to-https" for b in behaviors)
    logs_bucket = synth.resolve(WEB, config["Logging"]["Bucket"])
    assert logs_bucket is not None and synth.resource(logs_bucket)["Type"] == "AWS::S3::Bucket"
    # Error responses would apply to /api/* too and hide the API's 403/404 behind the UI page.
    assert "CustomErrorResponses" not in config


def test_the_ui_comes_from_a_private_bucket_through_origin_access_control(synth: Synth) -> None:
    config = _distribution(synth)
    default = config["DefaultCacheBehavior"]
    origins = {o["Id"]: o for o in config["Origins"]}
    site_origin = origins[default["TargetOriginId"]]
    site = synth.resolve(WEB, site_origin["DomainName"])
    assert site is not None and synth.resolve(WEB, site_origin["OriginAccessControlId"]) == _one(
        synth, "AWS::CloudFront::OriginAccessControl"
    )
    bucket = _props(synth, site)
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::S3::BucketPolicy", WEB).values()
        if synth.resolve(WEB, p["Properties"]["Bucket"]) == site
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    allows = [s for s in policy if s["Effect"] == "Allow"]
    assert allows and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in allows)
    assert all("AWS:SourceArn" in s["Condition"]["StringEquals"] for s in allows)
    assert default["AllowedMethods"] == ["GET", "HEAD"]


def test_the_api_is_under_api_with_no_caching_and_authorization_forwarded(synth: Synth) -> None:
    config = _distribution(synth)
    [api] = config["CacheBehaviors"]
    assert api["PathPattern"] == "/api/*"
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert "FunctionAssociations" not in api  # the SPA fallback is for the UI only
    assert {"POST", "DELETE", "PATCH"} <= set(api["AllowedMethods"])
    origin = {o["Id"]: o for o in config["Origins"]}[api["TargetOriginId"]]
    assert origin["OriginPath"] == f"/{API_STAGE}"
    assert origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    assert synth.resolve(WEB, origin["DomainName"]["Fn::Join"][1][0]) == _one(
        synth, "AWS::ApiGateway::RestApi"
    )


def test_security_headers_with_a_strict_csp_and_hsts_on_every_behavior(synth: Synth) -> None:
    config = _distribution(synth)
    policy = _one(synth, "AWS::CloudFront::ResponseHeadersPolicy")
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert synth.resolve(WEB, behavior["ResponseHeadersPolicyId"]) == policy
    security = _props(synth, policy)["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; ") if " " in d)
    assert directives["default-src"] == directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    hsts = security["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 31536000 and hsts["IncludeSubdomains"] and hsts["Override"]
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/orders", "/index.html"),
        ("/orders/to1-ABC", "/index.html"),
        ("/assets/index-3f2a.js", "/assets/index-3f2a.js"),
        ("/favicon.ico", "/favicon.ico"),
        ("/v1.2/orders", "/index.html"),
    ],
)
def test_the_spa_fallback_serves_index_html_for_ui_routes_only(uri: str, served: str) -> None:
    # node is there: the CDK itself (jsii) runs on it.
    script = f"{SPA_FALLBACK}\nprocess.stdout.write(handler({{request: {{uri: {json.dumps(uri)}}}}}).uri);"
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout == served


def _web_only(frontend: bool, tmp_path: Any) -> tuple[App, WebStack]:
    app = App(context={**cdk_json_context(), **SKIP_BUNDLING})
    data = DataStack(app, "Data", worm_retention_days=30)
    # Existing pool and bus by name: the web stack only needs their identifiers.
    pool = cognito.UserPool.from_user_pool_id(data, "Pool", "us-east-1_example")
    bus = events.EventBus.from_event_bus_name(data, "Bus", "tradeops")
    dist = None
    if frontend:
        dist = tmp_path / "dist"
        dist.mkdir()
        (dist / "index.html").write_text("<!doctype html><title>tradeops</title>")
    web = WebStack(app, "Web", data=data, bus=bus, user_pool=pool, frontend_dist=dist)
    return app, web


@pytest.mark.parametrize("frontend", [False, True])
def test_assets_are_deployed_only_when_built_and_cdk_nag_passes_either_way(
    frontend: bool, tmp_path: Any
) -> None:
    app, web = _web_only(frontend, tmp_path)
    template = app.synth().get_stack_by_name("Web").template
    deployments = [r for r in template["Resources"].values() if r["Type"] == "Custom::CDKBucketDeployment"]
    assert len(deployments) == (1 if frontend else 0)
    assert (web.deployment is not None) is frontend
    report = AwsSolutionsChecks().validate_scope(web)
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []
