"""functions/api/app.py imports with no configuration, and needs nothing outside its requirement set.

The import runs in ``python -I -S`` with only the entry folder, ``src`` and the venv's site-packages on
the path, and with the optional imports of its dependencies blocked (pynamodb's ``blinker`` signals,
botocore's ``certifi``: both fall back without them), so whatever it still loads must be pinned in
functions/api/requirements.txt (Chalice vendors its own runtime into the package).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OPTIONAL = ("blinker", "certifi")
SCRIPT = """
import importlib.metadata as md, json, sys
sys.path[:0] = sys.argv[1:4]
for name in sys.argv[4:]:
    sys.modules[name] = None  # an absent optional dependency
import app
owners = md.packages_distributions()
used = sorted({d for m, mod in list(sys.modules.items()) if mod for d in owners.get(m.split('.')[0], [])})
print(json.dumps({"name": app.app.app_name, "paths": sorted(app.app.routes), "dists": used}))
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> set[str]:
    lines = (ROOT / "functions/api/requirements.txt").read_text().splitlines()
    return {_norm(line.split("==")[0].split("[")[0].strip()) for line in lines if line and line[0] != "#"}


def test_the_api_entry_imports_alone_and_stays_inside_its_requirement_set() -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}  # no TRADEOPS_*, no AWS
    paths = [str(ROOT / "functions/api"), str(ROOT / "src"), sysconfig.get_paths()["purelib"]]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", SCRIPT, *paths, *OPTIONAL],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["name"] == "tradeops-api"
    assert "/api/orders/{client_order_id}" in found["paths"] and "/api/openapi.json" in found["paths"]
    outside = {_norm(d) for d in found["dists"]} - _pins() - {"chalice", "tradeops"}
    assert not outside, f"the API imports packages missing from functions/api/requirements.txt: {outside}"
    assert "ccxt" not in _pins() and "pyjwt" in _pins()
