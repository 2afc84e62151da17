"""Fixtures of the embedded-stack tests: settings whose queues are unique per test, tiny handler dirs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradeops.config import Settings


@pytest.fixture
def local_settings(aws_settings: Settings) -> Settings:
    return aws_settings


RECORDING_HANDLER = textwrap.dedent(
    """
    import json
    import os
    from pathlib import Path

    def handler(event, context):
        if event.get("detail", {}).get("fail"):
            raise RuntimeError("handler refused the event")
        record = {
            "event": event,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "endpoint": os.environ.get("TRADEOPS_AWS_ENDPOINT_URL"),
        }
        with (Path(__file__).parent / "calls.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\\n")
        return {"ok": True}
    """
)


def write_recording_handler(functions_dir: Path, name: str) -> Path:
    """``functions_dir/<name>/handler.py`` appending each call to ``calls.jsonl``; raises if detail.fail."""
    folder = functions_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handler.py").write_text(RECORDING_HANDLER)
    return folder / "calls.jsonl"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # state ppid pgrp session ...


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def session_members(sid: int) -> list[int]:
    """Every live process (zombies excluded) of session ``sid``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[3]) == sid:
                members.append(int(entry.name))
    return members
