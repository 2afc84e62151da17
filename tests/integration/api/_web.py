"""The local web server (tradeops.local.web) on its own event loop thread, for HTTP-level tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tradeops.api import create_app
from tradeops.local.web import WebServer

from ._rig import ApiRig


@contextmanager
def running_web(rig: ApiRig, ui_dir: Path | None) -> Iterator[str]:
    """The server's base URL while the context lasts."""
    loop = asyncio.new_event_loop()
    server = WebServer(lambda: create_app(rig.services), ui_dir)
    thread = threading.Thread(target=loop.run_forever, name="web", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        yield server.url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
