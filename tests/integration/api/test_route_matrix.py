"""Every route x every role against real Cognito tokens: 2xx where the table allows it, 403 elsewhere.

Driven by the route table: a route without a sample request in ``_samples`` fails here.
"""

from __future__ import annotations

import pytest

from tradeops.api import build_table
from tradeops.domain.roles import ROLES

from ._rig import ROLE_USERS, ApiRig
from ._samples import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
TABLE = build_table()


def test_every_route_has_a_sample_request() -> None:
    assert {spec.key for spec in TABLE.routes} == set(SAMPLES)


@pytest.mark.parametrize("spec", TABLE.routes, ids=lambda spec: spec.key)
def test_route_by_role(api_rig: ApiRig, spec) -> None:  # type: ignore[no-untyped-def]
    outcomes = {}
    for role in ROLES:
        path, body = SAMPLES[spec.key](api_rig)
        status, reply = api_rig.call(spec.method, path, user=ROLE_USERS[role], body=body)
        outcomes[role] = status
        if spec.allows({role}):
            assert 200 <= status < 300, f"{spec.key} as {role}: {status} {reply}"
        else:
            assert status == 403, f"{spec.key} as {role}: {status} {reply}"
            assert reply["error"]["code"] == "forbidden"
    assert any(200 <= s < 300 for s in outcomes.values()), outcomes


@pytest.mark.parametrize("spec", [s for s in TABLE.routes if not s.public], ids=lambda spec: spec.key)
def test_protected_routes_need_a_token(api_rig: ApiRig, spec) -> None:  # type: ignore[no-untyped-def]
    path, body = SAMPLES[spec.key](api_rig)
    status, reply = api_rig.call(spec.method, path, body=body)
    assert status == 401 and reply["error"]["code"] == "unauthorized"
    status, _ = api_rig.call(spec.method, path, token="not.a.token", body=body)
    assert status == 401
