"""The operator API on API Gateway + Lambda (Chalice): thin entry, the routes live in tradeops.api.

Configuration comes from the environment at the first request: ``TRADEOPS_*`` (tables, bus, region)
and ``TRADEOPS_COGNITO_ISSUER`` / ``TRADEOPS_COGNITO_CLIENT_ID`` / ``TRADEOPS_COGNITO_JWKS_URL``
(default: the issuer's JWKS) / ``TRADEOPS_COGNITO_HOSTED_UI_URL``. ``TRADEOPS_COGNITO_USER_POOL_ARN``,
when set at packaging time, adds API Gateway's Cognito authorizer in front of the protected routes.
"""

from chalice import Chalice

from tradeops.api import register_routes

app = Chalice(app_name="tradeops-api")
register_routes(app)
