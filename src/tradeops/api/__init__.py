"""The operator API (DESIGN §4.5): Chalice app, Cognito JWT verification, role-based routes, OpenAPI.

``functions/api/app.py`` is the Lambda entry (:func:`register_routes` on its Chalice app);
``tradeops.local.web`` serves the same app with the built UI on one origin for ``tradeops up``.
"""

from tradeops.api.app import APP_NAME, build_table, create_app, register_routes, services_from_env

__all__ = ["APP_NAME", "build_table", "create_app", "register_routes", "services_from_env"]
