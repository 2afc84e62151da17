"""Archive fixtures: the journal table and the Object Lock bucket on moto, the real archiver handler."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tradeops.aws.archive import WormArchive
from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.local.provision import _bucket
from tradeops.local.streams import StreamPoller
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.store.journal import JournalStore
from tradeops.store.provision import create_tables
from tradeops.store.tables import JOURNAL

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
ARCHIVER = FUNCTIONS_BY_NAME["archiver"]
Handler = Callable[[dict[str, Any], Any], Any]


def load_handler_module() -> Any:
    path = FUNCTIONS_DIR / "archiver" / "handler.py"
    spec = importlib.util.spec_from_file_location("archiver_handler_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Stack:
    settings: Settings
    journal: JournalStore
    archive: WormArchive
    handler: Handler

    def poller(self, handler: Handler | None = None, **kwargs: Any) -> StreamPoller:
        chosen = handler or self.handler
        return StreamPoller(
            self.settings, lambda name: chosen, account_id="123456789012", functions=[ARCHIVER], **kwargs
        )

    def append(self, stream: str, count: int) -> None:
        for index in range(count):
            self.journal.append(stream, "test.event", {"n": index, "px": "1.50"}, "tester", 1)

    def object_versions(self) -> int:
        return sum(sum(self.archive.version_counts(s).values()) for s in self.archive.streams())

    def plain_bucket(self) -> WormArchive:
        """An archive in a bucket without versioning or Object Lock (to inject what WORM refuses)."""
        name = f"{self.settings.worm_bucket}-plain"
        client("s3", self.settings).create_bucket(Bucket=name)
        return WormArchive(self.settings, bucket=name)


@pytest.fixture(scope="session")
def handler_module() -> Any:
    return load_handler_module()


@pytest.fixture
def stack(aws_settings: Settings, handler_module: Any) -> Stack:
    settings = aws_settings
    create_tables(settings, (JOURNAL,))
    _bucket(settings, settings.worm_bucket, worm_retention_days=1)
    return Stack(
        settings, JournalStore(settings), WormArchive(settings), handler_module.make_handler(settings)
    )
