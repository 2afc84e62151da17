"""One botocore data loader per process, shared by every botocore session tradeops creates.

botocore loads a service's JSON model (DynamoDB's is ~140,000 objects) into the loader of the session
that creates a client, and every new session brings a new loader. pynamodb makes a session per table
connection and boto3 one per ``boto3.session.Session``, so a process binding fifteen tables kept
fifteen copies of the DynamoDB model: memory, and full garbage collections that stop the process for
seconds once the heap is large. Sessions made by :func:`new_session` share one loader (read-only after
loading), while each keeps its own credentials and client creation, as botocore requires per thread.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.loaders
import botocore.session

_LOADER: botocore.loaders.Loader | None = None
_LOCK = threading.Lock()


def shared_loader() -> botocore.loaders.Loader:
    """The process's data loader (created on first use)."""
    global _LOADER
    with _LOCK:
        if _LOADER is None:
            _LOADER = botocore.session.get_session().get_component("data_loader")
        return _LOADER


def new_session(env_vars: dict[str, tuple[Any, Any, Any, Any]] | None = None) -> botocore.session.Session:
    """A fresh botocore session (``botocore.session.get_session``) whose service models come from the
    shared loader."""
    session = botocore.session.get_session(env_vars)
    session.register_component("data_loader", shared_loader())
    return session
