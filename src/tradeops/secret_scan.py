"""Find secrets in log output: the test-side check that the scrubber (tradeops.observability) works.

:class:`SecretScanner` looks at finished log lines (JSON or text) for

* known secret values (API keys and secrets a test used, secret-looking environment variables),
* JWTs (``eyJ<header>.eyJ<payload>.``),
* AWS access key ids (``AKIA``/``ASIA`` + 16) and AWS secret access keys (40 base64 characters),
* Binance-style API keys and HMAC secrets (64 alphanumerics),
* the values of ``Authorization`` and ``X-MBX-APIKEY`` headers,

and reports each finding with the line redacted, so the report itself leaks nothing.

False positives are avoided by shape, not by lists of exceptions: the journal's SHA-256 hashes are 64
*lower-case hex* characters and git/sha1 digests 40, while exchange keys and AWS secret keys are drawn
from mixed-case alphabets. A candidate counts only if it mixes upper- and lower-case letters (and, for
the 40-character AWS shape, has a digit or ``+``/``/``): the chance that a random 64-character Binance
key lacks either case is about 1e-15, while a hex digest never has both. Header values that are
already redacted (``***``) or empty placeholders are not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from tradeops.observability import MIN_SECRET_LENGTH, REDACTED

SECRET_ENV_WORDS = ("SECRET", "PASSWORD", "TOKEN")
NOT_A_SECRET_ENV_SUFFIXES = ("_ID", "_NAME", "_ARN", "_URL", "_PATH", "_FILE", "_PREFIX")
"""Environment names that identify a secret (``TRADEOPS_EXCHANGE_SECRET_ID``) rather than hold one."""

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_EXCHANGE_KEY = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])")
_HEADER = re.compile(
    r"(?i)\b(?P<name>(?:proxy-)?authorization|x-mbx-apikey)[\"']?\s*[:=]\s*[\"']?(?P<value>[^\"'\r\n,}]*)"
)
_HARMLESS_HEADER_VALUES = re.compile(
    rf"(?i)^(?:(?:bearer|basic)\s+)?(?:{re.escape(REDACTED)}|none|null|<redacted>|\[redacted\])?\s*$"
)
_MIXED_CASE = re.compile(r"(?=.*[a-z])(?=.*[A-Z])")
_HAS_DIGIT_OR_SYMBOL = re.compile(r"[0-9/+]")


@dataclass(frozen=True)
class Finding:
    """A secret found in a log line: what it looked like, where, and the line with it redacted."""

    kind: str
    source: str
    line_number: int
    redacted_line: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.source}:{self.line_number}: {self.redacted_line}"


def secrets_from_environment(environ: Mapping[str, str]) -> set[str]:
    """Values of environment variables whose names say they hold a secret, password or token."""
    found: set[str] = set()
    for name, value in environ.items():
        upper = name.upper()
        if not any(word in upper for word in SECRET_ENV_WORDS) or upper.endswith(NOT_A_SECRET_ENV_SUFFIXES):
            continue
        if len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
    return found


class SecretScanner:
    """Scans lines for ``known`` secret values and for secret shapes (see the module docstring)."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        values = sorted(set(known), key=len, reverse=True)
        if any(len(v) < MIN_SECRET_LENGTH for v in values):  # would match ordinary words
            raise ValueError(f"known secrets need at least {MIN_SECRET_LENGTH} characters")
        self._known = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def scan_line(self, line: str, *, source: str = "<log>", line_number: int = 0) -> list[Finding]:
        """Every secret in ``line``, each reported with the whole line redacted."""
        spans = list(self._spans(line))
        if not spans:
            return []
        redacted = _redact(line, spans)
        kinds = sorted({kind for kind, _, _ in spans})
        return [Finding(kind, source, line_number, redacted) for kind in kinds]

    def scan_lines(self, lines: Iterable[str], *, source: str) -> list[Finding]:
        found: list[Finding] = []
        for number, line in enumerate(lines, start=1):
            found += self.scan_line(line, source=source, line_number=number)
        return found

    def _spans(self, line: str) -> Iterator[tuple[str, int, int]]:
        if self._known is not None:
            for match in self._known.finditer(line):
                yield "known secret value", match.start(), match.end()
        for match in _JWT.finditer(line):
            yield "JWT", match.start(), match.end()
        for match in _AWS_ACCESS_KEY_ID.finditer(line):
            yield "AWS access key id", match.start(), match.end()
        for match in _AWS_SECRET_KEY.finditer(line):
            text = match.group()
            if _MIXED_CASE.match(text) and _HAS_DIGIT_OR_SYMBOL.search(text):
                yield "AWS secret access key", match.start(), match.end()
        for match in _EXCHANGE_KEY.finditer(line):
            if _MIXED_CASE.match(match.group()):
                yield "64-character exchange key", match.start(), match.end()
        for match in _HEADER.finditer(line):
            if not _HARMLESS_HEADER_VALUES.match(match.group("value")):
                yield f"{match.group('name')} header value", match.start("value"), match.end("value")


def _redact(line: str, spans: list[tuple[str, int, int]], limit: int = 300) -> str:
    """``line`` with every span replaced by ``<redacted kind>``, cut to ``limit`` characters."""
    out: list[str] = []
    position = 0
    for kind, start, end in sorted(spans, key=lambda span: (span[1], -span[2])):
        if start < position:  # overlaps a span already redacted: extend that redaction
            position = max(position, end)
            continue
        out += [line[position:start], f"<redacted {kind}>"]
        position = end
    out.append(line[position:])
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."
