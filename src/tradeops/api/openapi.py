"""The OpenAPI 3.1 document, generated from the route table (the one source of truth) and its models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tradeops.api import responses as r
from tradeops.api.rbac import RouteSpec, RouteTable

TITLE = "tradeops operator API"
VERSION = "1.0.0"
_ERROR_TEXT = {
    400: "Invalid input (the fields map names each problem)",
    401: "Missing, expired or invalid token",
    403: "The caller's roles do not allow this route",
    404: "Not found",
    409: "Conflict with the current state",
    503: "A dependency did not answer; retry",
}


def _models(table: RouteTable) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorOut": r.ErrorOut}
    for spec in table.routes:
        for model in (spec.body, spec.response, *spec.other_responses.values()):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[!-~]{1,128}$"},
        }
        for name in spec.path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(by_alias=True, mode="validation")
        definitions = schema.get("$defs", {})
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = _inline(prop, definitions)
            prop.pop("title", None)
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _inline(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Query parameter schemas with their enum ``$ref``s resolved (parameters cannot use $defs)."""
    if "$ref" in schema:  # keep the siblings of the reference (its default, e.g. status=PENDING)
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        return {**definitions[schema["$ref"].rsplit("/", 1)[-1]], **siblings}
    result = dict(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in result:
            result[key] = [_inline(part, definitions) for part in result[key]]
    return result


def _operation(spec: RouteSpec) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success = {spec.status: spec.response, **spec.other_responses}
    for status, model in sorted(success.items()):
        entry: dict[str, Any] = {"description": "OK" if status < 300 else ""}
        if model is not None:
            entry["content"] = _json(_ref(model))
        responses[str(status)] = entry
    errors = {400, 503, *spec.errors}
    if spec.path_params:
        errors.add(404)
    if not spec.public:
        errors |= {401, 403}
    for status in sorted(errors):
        responses[str(status)] = {"description": _ERROR_TEXT[status], "content": _json(_ref(r.ErrorOut))}
    operation: dict[str, Any] = {
        "operationId": spec.key.lower()
        .replace(" /", "_")
        .replace("/", "_")
        .replace("{", "")
        .replace("}", ""),
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": _parameters(spec),
        "responses": responses,
        "security": [] if spec.public else [{"bearer": []}],
        "x-roles": "public" if spec.public else sorted(spec.roles),
    }
    if spec.body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(spec.body))}
    return operation


def openapi_document(table: RouteTable) -> dict[str, Any]:
    """The whole document: every route of ``table`` with its roles (``x-roles``), inputs and replies."""
    _, schema = models_json_schema(
        [(model, "validation") for model in _models(table)], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for spec in table.routes:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Decimal amounts are strings; times are epoch ms (UTC). Roles are Cognito groups.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
