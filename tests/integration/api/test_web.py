"""One origin for the API and the UI: API calls, built files, SPA routes, and a clear page when unbuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from ._rig import ROLE_USERS, ApiRig
from ._web import running_web

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_the_api_and_the_built_ui_share_one_origin(api_rig: ApiRig, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>tradeops</title>")
    (dist / "assets" / "app.js").write_text("console.log('ok')")
    (tmp_path / "secret.txt").write_text("outside the UI directory")
    with running_web(api_rig, dist) as url:
        me = requests.get(
            f"{url}/api/me",
            headers={"Authorization": f"Bearer {api_rig.token(ROLE_USERS['trader'])}"},
            timeout=30,
        )
        assert me.status_code == 200 and me.json()["roles"] == ["trader"]
        assert me.headers["X-Request-Id"]
        assert requests.get(f"{url}/api/me", timeout=30).status_code == 401
        assert requests.get(f"{url}/api/orders?limit=0", timeout=30).status_code == 401
        missing = requests.get(f"{url}/api/no-such-route", timeout=30)
        assert missing.status_code == 403  # API Gateway's answer to an unknown route
        asset = requests.get(f"{url}/assets/app.js", timeout=30)
        assert asset.status_code == 200 and asset.text == "console.log('ok')"
        for spa_route in ("/", "/orders/toen-abc", "/risk"):
            page = requests.get(f"{url}{spa_route}", timeout=30)
            assert page.status_code == 200 and "<title>tradeops</title>" in page.text
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        escape = requests.get(f"{url}/..%2Fsecret.txt", timeout=30)
        assert "outside the UI directory" not in escape.text


def test_an_unbuilt_ui_is_a_clear_503_while_the_api_works(api_rig: ApiRig, tmp_path: Path) -> None:
    with running_web(api_rig, tmp_path / "missing") as url:
        page = requests.get(f"{url}/", timeout=30)
        assert page.status_code == 503 and "has not been built" in page.text
        assert "make frontend" in page.text  # the Makefile's target
        assert requests.get(f"{url}/api/openapi.json", timeout=30).status_code == 200
