"""Dispatch without AWS: error mapping, validation, and mutating calls refused when the journal is down."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import QueryError

from tradeops.api.context import Call, Services
from tradeops.api.dispatch import Dispatcher
from tradeops.api.rbac import RouteSpec, RouteTable
from tradeops.api.requests import AckBody, PageQuery
from tradeops.api.responses import MeOut


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Query")


class Journal:
    def __init__(self, fail: bool = False) -> None:
        self.entries: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail

    def append(self, stream: str, kind: str, payload: dict[str, Any], actor: str, token: int) -> None:
        if self.fail:
            raise _client_error("ServiceUnavailable")
        self.entries.append((kind, actor, payload))


class Principal:
    username, roles, expires_at = "trader@x", frozenset({"trader"}), 0


class Verifier:
    def verify(self, token: str) -> Principal:
        return Principal()


def dispatcher(handler: Any, *, method: str = "GET", journal: Journal | None = None, **options: Any) -> Any:
    services = Services.__new__(Services)  # only what dispatch touches: the verifier and the journal
    services.verifier = Verifier()  # type: ignore[assignment]
    services.__dict__["journal"] = journal or Journal()
    table = RouteTable()
    access = {"public": True} if method == "GET" else {"roles": frozenset({"trader"})}
    table.add(RouteSpec(method, "/api/x", handler, "x", "t", **access, **options))
    return Dispatcher(table, services), table.routes[0]


def run(handler: Any, params: dict[str, str] | None = None, raw: bytes | None = None, **kw: Any) -> Any:
    d, spec = dispatcher(handler, **kw)
    headers = {"authorization": "Bearer t"}
    return d.handle(spec, headers=headers, path={}, query=params or {}, raw_body=raw)


def test_dynamodb_refusing_a_cursor_is_a_400_and_other_refusals_are_not_hidden() -> None:
    def refuse(call: Call) -> None:
        raise QueryError("bad start key", cause=_client_error("ValidationException"))

    status, body, _ = run(refuse, {"cursor": "eyJ4Ijp7IlMiOiJ5In19"})
    assert status == 400 and "query.cursor" in body["error"]["fields"]
    status, body, _ = run(refuse, {})
    assert status == 500 and body["error"]["code"] == "internal"


def test_unavailable_dependencies_are_503() -> None:
    def throttled(call: Call) -> None:
        raise _client_error("ThrottlingException")

    assert run(throttled)[0] == 503


def test_query_and_body_problems_name_their_fields() -> None:
    me = MeOut(username="u", roles=[], permissions=[])
    status, body, _ = run(lambda call: me, {"limit": "0"}, query=PageQuery)
    assert status == 400 and list(body["error"]["fields"]) == ["query.limit"]
    status, body, _ = run(lambda call: me, raw=b"[1]", method="POST")
    assert status == 200  # a route without a body ignores one
    status, body, _ = run(lambda call: me, raw=b"[1]", method="POST", body=AckBody)
    assert status == 400 and body["error"]["fields"] == {"body": "must be an object"}


def test_a_mutating_call_is_refused_when_the_journal_is_down_and_its_handler_never_runs() -> None:
    ran: list[bool] = []

    def act(call: Call) -> MeOut:
        ran.append(True)
        return MeOut(username="u", roles=[], permissions=[])

    status, _, _ = run(act, method="POST", journal=Journal(fail=True))
    assert status == 503
    assert ran == []
    journal = Journal()
    status, _, headers = run(act, method="POST", journal=journal)
    assert status == 200 and ran == [True]
    assert [(kind, actor) for kind, actor, _ in journal.entries] == [
        ("api_request", "trader@x"), ("api_outcome", "trader@x")
    ]  # fmt: skip
    assert {p["request_id"] for _, _, p in journal.entries} == {headers["X-Request-Id"]}


@pytest.mark.parametrize("value", ["", "a b", "x" * 200, "ü"])
def test_path_parameters_outside_the_id_alphabet_are_404(value: str) -> None:
    table = RouteTable()
    table.add(RouteSpec("GET", "/api/x/{id}", lambda call: None, "x", "t", public=True))
    services = Services.__new__(Services)
    status, _, _ = Dispatcher(table, services).handle(
        table.routes[0], headers={}, path={"id": value}, query={}, raw_body=None
    )
    assert status == 404
