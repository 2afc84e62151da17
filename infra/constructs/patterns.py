"""Event patterns from the routing data (plain JSON) to ``events.EventPattern``.

The L2 types top-level fields as string lists, so content filters (``{"prefix": ...}``) go through
``events.Match``; ``detail`` is passed through as JSON. The infra tests assert the rendered pattern
equals the routing data, so a translation gap fails a test rather than a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_events as events

_FIELDS = {
    "account": "account",
    "detail-type": "detail_type",
    "id": "id",
    "region": "region",
    "resources": "resources",
    "source": "source",
    "time": "time",
    "version": "version",
}


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """The L2 event pattern equivalent to the JSON ``pattern``."""
    kwargs: dict[str, Any] = {}
    for key, value in pattern.items():
        if key == "detail":
            kwargs["detail"] = dict(value)
            continue
        if key not in _FIELDS:
            raise ValueError(f"unknown event pattern field {key!r}")
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValueError(f"event pattern field {key!r} must be a list, got {value!r}")
        kwargs[_FIELDS[key]] = _matchers(key, value)
    return events.EventPattern(**kwargs)


def _matchers(key: str, values: Sequence[Any]) -> list[str]:
    if all(isinstance(v, str) for v in values):
        return list(values)
    matchers = [_matcher(key, v) for v in values]
    return matchers[0] if len(matchers) == 1 else events.Match.any_of(*matchers)


def _matcher(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return events.Match.exact_string(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((op, arg),) = value.items()
        if isinstance(arg, str):
            string_filters = {
                "prefix": events.Match.prefix,
                "suffix": events.Match.suffix,
                "wildcard": events.Match.wildcard,
                "equals-ignore-case": events.Match.equals_ignore_case,
                "anything-but": events.Match.anything_but,
            }
            if op in string_filters:
                return string_filters[op](arg)
        if op == "anything-but" and isinstance(arg, list) and all(isinstance(a, str) for a in arg):
            return events.Match.anything_but(*arg)
        if op == "exists" and isinstance(arg, bool):
            return events.Match.exists() if arg else events.Match.does_not_exist()
    raise ValueError(f"event pattern field {key!r}: unsupported content filter {value!r}")
