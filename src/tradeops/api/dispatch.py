"""One request through one route: request id, authentication, roles, validation, journal, handler, reply.

Order: a protected route verifies the bearer token (401) and the caller's roles (403, journaled for
mutating routes); then the query string and the JSON body are validated (400 naming each field). A
mutating call is journaled on stream ``operator`` before it acts (no journal, no action: 503) and its
outcome after. Known failures map to 400/404/409/503; anything else is logged and answered 500 (the
schemathesis test holds that no input reaches it).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError
from pynamodb.exceptions import PynamoDBConnectionError, PynamoDBException

from tradeops.api.auth import InvalidToken, Principal, bearer_token
from tradeops.api.context import Call, Reply, Services
from tradeops.api.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)
from tradeops.api.rbac import RouteSpec, RouteTable
from tradeops.aws.events import PublishError
from tradeops.observability import get_logger
from tradeops.store.base import InvalidCursor

log = get_logger("tradeops.api")
OPERATOR_STREAM = "operator"
MAX_BODY_BYTES = 64 * 1024
_PATH_PARAM_RE = re.compile(r"^[!-~]{1,128}$")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def field_errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """``{"field.path": "problem"}`` for every error of a pydantic validation (first problem per field)."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(prefix + name, str(error["msg"]))
    return fields


class OperatorJournal:
    """Journals mutating calls on stream ``operator`` (actor = the user; operators hold no lease: token 0)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> None:
        self._services.journal.append(OPERATOR_STREAM, kind, payload, actor, 0)


class Dispatcher:
    """Runs routes of ``table`` against ``services``; :meth:`handle` never raises."""

    def __init__(self, table: RouteTable, services: Services) -> None:
        self.table = table
        self.services = services
        self.journal = OperatorJournal(services)

    def handle(
        self,
        spec: RouteSpec,
        *,
        headers: Mapping[str, str],
        path: Mapping[str, str],
        query: Mapping[str, str],
        raw_body: bytes | None,
        request_id: str | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON body, headers) of one request."""
        rid = request_id if request_id and _REQUEST_ID_RE.match(request_id) else uuid.uuid4().hex
        response_headers = {"X-Request-Id": rid, "Cache-Control": "no-store"}
        principal: Principal | None = None
        journaled = False
        try:
            principal = self._authorize(spec, headers, rid)
            call = Call(
                services=self.services,
                request_id=rid,
                principal=principal,
                path=_path_params(spec, path),
                query=_parse(spec.query, dict(query), "query."),
                body=_parse_body(spec, raw_body),
                table=self.table,
            )
            if spec.mutating and principal is not None:
                self._journal_request(spec, call)
                journaled = True
            result = spec.handler(call)
            status, body = (
                (result.status, result.body) if isinstance(result, Reply) else (spec.status, result)
            )
            payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
        except Exception as exc:
            error = _as_api_error(exc, spec, query)
            status, payload = error.status, error.body()
        if journaled and principal is not None:
            self._journal_outcome(spec, rid, principal, status, payload)
        return status, payload, response_headers

    def _authorize(self, spec: RouteSpec, headers: Mapping[str, str], rid: str) -> Principal | None:
        if spec.public:
            return None
        try:
            principal = self.services.verifier.verify(bearer_token(headers))
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from None
        if not spec.allows(principal.roles):
            if spec.mutating:
                payload = {"request_id": rid, "route": spec.key, "roles": sorted(principal.roles)}
                self.journal.append("api_denied", principal.username, payload)
            raise Forbidden(f"{spec.key} needs one of the roles {', '.join(sorted(spec.roles))}")
        return principal

    def _journal_request(self, spec: RouteSpec, call: Call) -> None:
        payload = {
            "request_id": call.request_id,
            "route": spec.key,
            "path": call.path,
            "body": None if call.body is None else call.body.model_dump(mode="json"),
            "roles": sorted(call.user.roles),
        }
        self.journal.append("api_request", call.user.username, payload)

    def _journal_outcome(
        self, spec: RouteSpec, rid: str, principal: Principal, status: int, body: Any
    ) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        payload = {
            "request_id": rid,
            "route": spec.key,
            "status": status,
            "error": None if not isinstance(error, dict) else error.get("code"),
        }
        try:
            self.journal.append("api_outcome", principal.username, payload)
        except Exception:  # the request entry exists; the outcome is also in the change's own journal
            log.exception("operator outcome not journaled", extra={"request_id": rid})


def _path_params(spec: RouteSpec, path: Mapping[str, str]) -> dict[str, str]:
    values = {name: str(path.get(name, "")) for name in spec.path_params}
    for name, value in values.items():
        if not _PATH_PARAM_RE.match(value):
            raise NotFound(f"no such {name.replace('_', ' ')}")
    return values


def _parse(model: type[BaseModel] | None, data: dict[str, Any], prefix: str) -> BaseModel | None:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest("invalid request", fields=field_errors(exc, prefix)) from None


def _parse_body(spec: RouteSpec, raw: bytes | None) -> BaseModel | None:
    if spec.body is None:
        return None
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise BadRequest("request body too large", fields={"body": f"at most {MAX_BODY_BYTES} bytes"})
    text = (raw or b"").strip()
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        raise BadRequest("request body is not JSON", fields={"body": "not valid JSON"}) from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", fields={"body": "must be an object"})
    return _parse(spec.body, data, "")


def _as_api_error(exc: Exception, spec: RouteSpec, query: Mapping[str, str]) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InvalidCursor) or ("cursor" in query and _refused_as_invalid(exc)):
        # A cursor that decodes but names no key of this index is refused by DynamoDB itself.
        return BadRequest("invalid cursor", fields={"query.cursor": "not a cursor this API issued"})
    if not _refused_as_invalid(exc) and isinstance(
        exc, PublishError | BotoCoreError | ClientError | PynamoDBConnectionError
    ):
        log.warning("dependency unavailable", extra={"route": spec.key, "error": repr(exc)})
        return Unavailable("a dependency did not answer; retry shortly")
    log.exception("unhandled error", extra={"route": spec.key})
    return ApiError("internal error")


def _refused_as_invalid(exc: Exception) -> bool:
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code == "ValidationException"
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") == "ValidationException"
    return False
