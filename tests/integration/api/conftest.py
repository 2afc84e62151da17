"""One provisioned stack per test module (Cognito pool, tables, bus): provisioning costs ~2 s."""

from __future__ import annotations

import pytest

from ._rig import ApiRig, open_api_rig


@pytest.fixture(scope="module")
def api_rig(moto_endpoint: str) -> ApiRig:
    return open_api_rig(moto_endpoint)
