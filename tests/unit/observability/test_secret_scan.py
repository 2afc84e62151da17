"""The log secret scanner catches every secret shape and leaves ordinary log lines alone."""

from __future__ import annotations

import hashlib
import json
import random
import string
import uuid

import pytest

from tradeops.domain.ids import client_order_id
from tradeops.domain.journal import compute_hash
from tradeops.observability import scrub_text
from tradeops.secret_scan import SecretScanner, secrets_from_environment

RNG = random.Random(20240601)
ALNUM = string.ascii_letters + string.digits


def _binance_key() -> str:
    return "".join(RNG.choice(ALNUM) for _ in range(64))


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the shape of AWS's documented example key
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEiLCJjb2duaXRvOmdyb3VwcyI6WyJ0cmFkZXIiXX0."
    "c2lnbmF0dXJlLWJ5dGVz"
)
DRILL_SECRET = "drill-secret-0001-0123456789abcdefgh"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (f'{{"message": "loaded", "value": "{DRILL_SECRET}"}}', "known secret value"),
        (f"token={JWT}", "JWT"),
        (f'{{"headers": {{"Authorization": "Bearer {JWT}"}}}}', "JWT"),
        ("credentials AKIAIOSFODNN7EXAMPLE in use", "AWS access key id"),
        (f"aws_secret_access_key {AWS_SECRET}", "AWS secret access key"),
        (f"signing with {_binance_key()} now", "64-character exchange key"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization header value"),
        ('{"X-MBX-APIKEY": "short-but-present"}', "X-MBX-APIKEY header value"),
        ("x-mbx-apikey=vmPUZE6mv9SD5VNHk4", "x-mbx-apikey header value"),
    ],
)
def test_each_secret_shape_is_found_and_redacted_in_the_report(line: str, kind: str) -> None:
    findings = SecretScanner([DRILL_SECRET]).scan_line(line, source="gw.log", line_number=7)
    assert kind in {f.kind for f in findings}, findings
    for finding in findings:
        assert finding.source == "gw.log" and finding.line_number == 7
        assert "<redacted" in finding.redacted_line
        for secret in (DRILL_SECRET, JWT, AWS_SECRET, "AKIAIOSFODNN7EXAMPLE", "dXNlcjpwYXNz"):
            assert secret not in finding.redacted_line
        assert "gw.log:7" in str(finding)


def _journal_line(seq: int, prev_hash: str) -> tuple[str, str]:
    entry = {"stream": "orders", "seq": seq, "prev_hash": prev_hash, "payload": {"n": seq}}
    digest = compute_hash(prev_hash, entry)  # the journal's own sha256 chain hash
    return json.dumps({**entry, "hash": digest, "message": "journal append"}), digest


def test_journal_hashes_order_ids_and_other_ids_are_not_flagged() -> None:
    scanner = SecretScanner([DRILL_SECRET])
    lines: list[str] = []
    prev = "0" * 64
    for seq in range(1, 2001):  # 2000 sha256 digests: lower-case hex never mixes cases
        line, prev = _journal_line(seq, prev)
        lines.append(line)
    lines += [
        f'{{"client_order_id": "{client_order_id(f"intent-{n}")}", "event_id": "{uuid.uuid4()}"}}'
        for n in range(200)
    ]
    lines += [hashlib.sha1(str(n).encode()).hexdigest() + " commit" for n in range(200)]  # 40 hex: not AWS
    lines += [hashlib.sha256(str(n).encode()).hexdigest().upper() for n in range(200)]
    lines += [
        "missing Authorization header",
        '{"Authorization": "***"}',
        "Authorization: Bearer ***",
        "X-MBX-APIKEY: ***",
        '{"authorization": null}',
        "arn:aws:iam::123456789012:role/tradeops-worm-writer-us-east-1",
        "journal/orders/00000000000000000001-00000000000000000100.jsonl",
        "price=123.45000000 qty=0.00100000 symbol=SOL/USDT",
        '{"level":"INFO","message":"order FILLED","service":"tradeops-gateway","correlation_id":"c-1"}',
    ]
    assert scanner.scan_lines(lines, source="ordinary") == []


def test_what_the_scrubber_emits_is_clean() -> None:
    key = _binance_key()
    raw = [
        f"Authorization: Bearer {JWT}",
        f'{{"apiKey": "{key}", "password": "hunter2hunter2"}}',
        f"GET /api/v3/account?timestamp=1&signature={key}",
        f"id_token={JWT} next",
    ]
    scanner = SecretScanner([key])
    assert all(scanner.scan_line(line) for line in raw)
    assert [scanner.scan_line(scrub_text(line)) for line in raw] == [[], [], [], []]
    # A bare secret with no key name around it is invisible to the scrubber unless registered:
    # exactly what the drills' scan is there to catch.
    assert {f.kind for f in scanner.scan_line(scrub_text(f"using {AWS_SECRET}"))} == {"AWS secret access key"}


def test_secret_environment_values_but_not_secret_names_or_short_dummies() -> None:
    environ = {
        "TRADEOPS_EXCHANGE_SECRET_ID": "tradeops/exchange-key",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "API_TOKEN": "tok-0123456789abcdef",
        "DB_PASSWORD": "correct-horse-battery",
        "HOME": "/root/very-long-path",
    }
    assert secrets_from_environment(environ) == {"tok-0123456789abcdef", "correct-horse-battery"}


def test_short_known_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        SecretScanner(["abc"])
