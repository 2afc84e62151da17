"""Secrets hygiene for every drill: no log line a drill produces may carry a secret (issue #6, point 5).

An autouse fixture captures, for the whole drill,

* every log record at DEBUG (caplog sets the levels; every logger's records are collected, also those
  of loggers that do not propagate, e.g. the services' JSON loggers), formatted when logged by the
  production ``ScrubbingFormatter``: what matters is what a process writes, after its scrubber;
* the test's stdout and stderr at the file-descriptor level (capfd: in-process gateways, the
  simulator, anything printing);
* every ``*.log`` file under the drill's ``tmp_path`` (child gateways' logs),

and at teardown scans each line with :class:`tradeops.secret_scan.SecretScanner` for the rig's API key
and secret, secret-looking environment values, JWTs, AWS keys, 64-character exchange keys and
``Authorization`` / ``X-MBX-APIKEY`` header values. A finding fails the drill naming the source, the
line number and the line (redacted).

The wire-level libraries (``observability.WIRE_LOGGERS``: botocore, aiohttp, ccxt, ...) keep the floor
the product gives them (INFO): at DEBUG they print raw HTTP bodies, which no tradeops process ever
emits, so capturing them would test a configuration that does not exist. The floor is set on the
libraries' top loggers by name, as the product sets it, so loggers they create later (ccxt makes its
logger with the first exchange) inherit it. The embedded AWS's own server loggers (:data:`EMBEDDED_AWS`:
moto's Flask app) stay at INFO too: they stand in for AWS and are no tradeops process's output.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from logging import LogRecord
from pathlib import Path

import pytest

from tradeops.observability import WIRE_LOGGERS, ScrubbingFormatter
from tradeops.secret_scan import Finding, SecretScanner, secrets_from_environment

from ._rig import KEY

MAX_REPORTED = 10
EMBEDDED_AWS = ("moto", "flask_cors", "werkzeug")
FLOORED = (*WIRE_LOGGERS, *EMBEDDED_AWS)


def _loggers() -> list[logging.Logger]:
    return [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]


def _capture_everything(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DEBUG everywhere (wire loggers at their floor); returns the list collecting every record's lines.

    Each record is formatted when it is logged, as a tradeops process would write it then (after its
    scrubber, with the secrets registered so far), whatever logger it comes from: the collection sits in
    ``Logger.callHandlers``, so loggers that do not propagate, or are created during the drill, count too.
    """
    caplog.set_level(logging.DEBUG)
    for logger in _loggers():
        floored = logger.name.split(".")[0] in FLOORED
        caplog.set_level(logging.INFO if floored else logging.DEBUG, logger=logger.name)
    for name in FLOORED:  # also the loggers these libraries have not created yet
        caplog.set_level(logging.INFO, logger=name)
    formatter = ScrubbingFormatter(service="drill")
    lines: list[str] = []
    call_handlers = logging.Logger.callHandlers

    def call_handlers_and_collect(self: logging.Logger, record: LogRecord) -> None:
        call_handlers(self, record)
        try:
            lines.extend(formatter.format(record).splitlines())
        except Exception as exc:  # a record that cannot be formatted is scanned raw
            lines.append(f"{record.msg!r} {record.args!r} ({exc!r})")

    monkeypatch.setattr(logging.Logger, "callHandlers", call_handlers_and_collect)
    return lines


def _scan(scanner: SecretScanner, log_lines: list[str], out: str, err: str, tmp_path: Path) -> list[Finding]:
    findings = scanner.scan_lines(log_lines, source="log records")
    findings += scanner.scan_lines(out.splitlines(), source="stdout")
    findings += scanner.scan_lines(err.splitlines(), source="stderr")
    for path in sorted(tmp_path.rglob("*.log")):
        text = path.read_text(encoding="utf-8", errors="replace")
        findings += scanner.scan_lines(text.splitlines(), source=str(path.relative_to(tmp_path)))
    return findings


@pytest.fixture(autouse=True)
def no_secrets_in_drill_logs(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[None]:
    log_lines = _capture_everything(caplog, monkeypatch)
    yield
    out, err = capfd.readouterr()
    sys.stdout.write(out)  # still shown in pytest's report of a failing drill
    sys.stderr.write(err)
    scanner = SecretScanner({KEY["apiKey"], KEY["secret"], *secrets_from_environment(os.environ)})
    findings = _scan(scanner, log_lines, out, err, tmp_path)
    if findings:
        shown = "\n".join(str(f) for f in findings[:MAX_REPORTED])
        pytest.fail(f"{len(findings)} secret(s) in the drill's logs:\n{shown}", pytrace=False)
