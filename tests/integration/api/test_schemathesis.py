"""Property-based requests from /api/openapi.json against the served API: no input gets a 5xx.

Each operation is called with a valid token of a role the route allows (and so reaches validation
and the handler, not just the 401/403 gate); 12 examples per operation (plus schemathesis's coverage
cases) keep the run bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tradeops.api import build_table
from tradeops.api.openapi import openapi_document

from ._rig import ROLE_USERS, ApiRig
from ._web import running_web

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TABLE = build_table()
schema = schemathesis.openapi.from_dict(openapi_document(TABLE))


@pytest.fixture(scope="module")
def web_url(api_rig: ApiRig) -> Iterator[str]:
    with running_web(api_rig, None) as url:
        yield url


def _token_for(api_rig: ApiRig, method: str, path: str) -> dict[str, str]:
    spec = next((s for s in TABLE.routes if s.method == method.upper() and s.path == path), None)
    if spec is None or spec.public:  # schemathesis also tries methods a path does not have
        return {}
    role = "admin" if "admin" in spec.roles else sorted(spec.roles)[0]
    return {"Authorization": f"Bearer {api_rig.token(ROLE_USERS[role])}"}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case, api_rig: ApiRig, web_url: str) -> None:
    headers = _token_for(api_rig, case.method, case.path)
    response = case.call(base_url=web_url, headers=headers, timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
