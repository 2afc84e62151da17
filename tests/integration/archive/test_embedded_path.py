"""The embedded path: the runner process's stream poller delivers the journal stream to the archiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradeops.audit import verify
from tradeops.aws.archive import WormArchive
from tradeops.config import Settings
from tradeops.local.endpoints import local_aws_env, settings_env
from tradeops.local.provision import provision
from tradeops.store.journal import JournalStore

from .conftest import FUNCTIONS_DIR

pytestmark = pytest.mark.integration


def test_the_runner_archives_the_journal_stream(aws_settings: Settings, tmp_path: Path) -> None:
    provision(aws_settings, demo_password="Demo-password-1", worm_retention_days=1)
    journal, archive = JournalStore(aws_settings), WormArchive(aws_settings)
    for index in range(30):
        journal.append("orders", "test.event", {"n": index}, "tester", 1)
    env = {**os.environ, **settings_env(aws_settings), **local_aws_env(aws_settings)}
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "tradeops.local.runner", "--functions-dir", str(FUNCTIONS_DIR)]
    process = subprocess.Popen(
        [*command, "--ready-file", str(ready)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (archive.manifests("orders") and ready.exists()):
            time.sleep(0.2)
        journal.append("orders", "test.event", {"n": 30}, "tester", 1)
        while time.monotonic() < deadline and archive.manifests("orders")[-1:][0].last_seq < 31:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert json.loads(ready.read_text())["pid"] == process.pid
    assert process.returncode == 0, output.decode()[-2000:]
    [report] = verify(archive, journal, ["orders"])
    assert report.intact and report.archived_through == 31, output.decode()[-2000:]
    assert b"processed a stream batch" in output
