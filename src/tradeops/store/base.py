"""pynamodb plumbing shared by every repository: table binding, exact attributes, errors, cursors.

Models are declared once, unbound, with ``SPEC: ClassVar[TableSpec]``. :func:`bind_model` derives a
subclass per (table name, region, endpoint) whose ``Meta`` points at the physical table, so several
prefixes (tests) or endpoints can share one process without sharing pynamodb's per-class connection.
The bindings are kept in a bounded LRU (a long-lived process with many prefixes, such as a test run,
does not keep every connection it ever made), and pynamodb's botocore sessions share one data loader
(:mod:`tradeops.aws.botocore_sessions`): one copy of the DynamoDB model per process.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, TypeVar, cast

import pynamodb.connection.base as pynamodb_connection
from pynamodb.attributes import Attribute
from pynamodb.constants import NUMBER, STRING
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from tradeops.aws.botocore_sessions import new_session
from tradeops.config import Settings
from tradeops.store.tables import TableSpec

# pynamodb's per-connection botocore sessions share one data loader.
pynamodb_connection.get_session = new_session  # type: ignore[attr-defined]


class StoreError(Exception):
    """Base class of every persistence error raised by tradeops.store."""


class StaleWrite(StoreError):
    """A conditional write lost: the item changed (or appeared) since it was read."""


class InvalidCursor(StoreError, ValueError):
    """A pagination cursor that this store did not issue (or that was altered)."""


class SchemaMismatch(StoreError):
    """A model's keys or indexes disagree with its TableSpec."""


class DecimalAttribute(Attribute[Decimal]):
    """A Decimal stored as its exact string form (``S``): value, sign and scale round-trip unchanged.

    DynamoDB numbers would drop trailing zeros (``1.50`` -> ``1.5``) and float-based pynamodb numbers
    would lose digits; a string keeps ``Decimal("0.00000001")`` and ``Decimal("12345678.12345678")``
    bit for bit. Floats, NaN and infinities are refused, so bad input fails before anything is written.
    """

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        return str(require_decimal(value, "DecimalAttribute"))

    def deserialize(self, value: Any) -> Decimal:
        try:
            parsed = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise StoreError(f"stored value {value!r} is not a decimal") from exc
        if not parsed.is_finite():
            raise StoreError(f"stored value {value!r} is not a finite decimal")
        return parsed


class IntAttribute(Attribute[int]):
    """An integer stored as a DynamoDB number (``N``), read back as ``int`` (never float)."""

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"IntAttribute needs an int, got {type(value).__name__} {value!r}")
        return str(value)

    def deserialize(self, value: Any) -> int:
        try:
            return int(value)
        except ValueError as exc:
            raise StoreError(f"stored value {value!r} is not an integer") from exc


def require_decimal(value: object, what: str) -> Decimal:
    """``value`` if it is a finite Decimal, else TypeError/ValueError naming ``what``."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise ValueError(f"{what} must be finite, got {value}")
    return value


class TableModel(Model):
    """Base of every tradeops model: declares the table it maps (bound later by :func:`bind_model`)."""

    SPEC: ClassVar[TableSpec]


M = TypeVar("M", bound=Model)

_BOUND: OrderedDict[tuple[type[Model], str, str, str | None], type[Model]] = OrderedDict()
_BIND_LOCK = threading.Lock()
MAX_BINDINGS = 256
"""Bindings kept (least recently used dropped): a deployment binds about twenty."""


def bind_model(model_cls: type[M], settings: Settings) -> type[M]:
    """The subclass of ``model_cls`` bound to the physical table of ``model_cls.SPEC`` under ``settings``.

    Cached per (model, table name, region, endpoint): each binding owns its pynamodb connection, so
    two prefixes or two moto servers never read each other's tables. Safe to call from any thread; a
    binding dropped from the cache stays valid for the stores that hold it.
    """
    spec: TableSpec | None = getattr(model_cls, "SPEC", None)
    if not isinstance(spec, TableSpec):
        raise TypeError(f"{model_cls.__name__} must declare SPEC: ClassVar[TableSpec]")
    table_name = settings.table_name(spec)
    key = (cast(type[Model], model_cls), table_name, settings.region, settings.aws_endpoint_url)
    with _BIND_LOCK:
        bound = _BOUND.get(key)
        if bound is not None:
            _BOUND.move_to_end(key)
        else:
            check_model_matches_spec(model_cls, spec)
            meta = type(
                "Meta",
                (),
                {"table_name": table_name, "region": settings.region, "host": settings.aws_endpoint_url},
            )
            namespace = {"Meta": meta, "_connection": None, "__module__": model_cls.__module__}
            bound = cast(type[Model], type(f"{model_cls.__name__}@{table_name}", (model_cls,), namespace))
            _BOUND[key] = bound
            while len(_BOUND) > MAX_BINDINGS:
                _BOUND.popitem(last=False)
    return cast(type[M], bound)


def check_model_matches_spec(model_cls: type[Model], spec: TableSpec) -> None:
    """Raise :class:`SchemaMismatch` if the model's keys or GSIs differ from ``spec``."""
    attrs = model_cls.get_attributes()
    hash_keys = [name for name, attr in attrs.items() if attr.is_hash_key]
    range_keys = [name for name, attr in attrs.items() if attr.is_range_key]
    want_range = [spec.sort.name] if spec.sort else []
    problems = []
    if hash_keys != [spec.partition.name] or range_keys != want_range:
        problems.append(f"keys {hash_keys}/{range_keys} != {spec.partition.name}/{want_range}")
    for name, key_type in spec.key_attributes().items():
        attr = attrs.get(name)
        if attr is None or attr.attr_type != key_type.value:
            problems.append(f"key attribute {name} must be type {key_type.value}")
    # pynamodb keeps its Index instances on the class: compare the declared index names.
    declared = {index.Meta.index_name for index in model_cls._indexes.values()}
    wanted = {index.name for index in spec.indexes}
    if declared != wanted:
        problems.append(f"indexes {sorted(declared)} != {sorted(wanted)}")
    if problems:
        raise SchemaMismatch(f"{model_cls.__name__} vs table spec {spec.name!r}: " + "; ".join(problems))


def encode_cursor(last_evaluated_key: dict[str, dict[str, Any]] | None) -> str | None:
    """An opaque, URL-safe cursor for a DynamoDB ``LastEvaluatedKey`` (None when there is no next page)."""
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, dict[str, Any]] | None:
    """The ``ExclusiveStartKey`` behind a cursor from :func:`encode_cursor`; :class:`InvalidCursor` if bad."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}") from exc
    valid = isinstance(key, dict) and all(
        isinstance(name, str)
        and isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in (STRING, NUMBER)
        and isinstance(next(iter(value.values())), str)
        for name, value in key.items()
    )
    if not valid or not key:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}")
    return cast(dict[str, dict[str, Any]], key)


def page_size_or_error(limit: int, maximum: int = 1000) -> int:
    """``limit`` if 1 <= limit <= maximum, else ValueError (a page size is never silently clamped)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValueError(f"page limit must be an int in 1..{maximum}, got {limit!r}")
    return limit


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a query: its items and the cursor of the next page (None on the last page)."""

    items: tuple[T, ...]
    cursor: str | None


def collect_page(results: ResultIterator[M], convert: Callable[[M], T]) -> Page[T]:
    """Drain a ``limit``-bounded pynamodb query into a :class:`Page` with its next-page cursor."""
    items = tuple(convert(model) for model in results)
    return Page(items, encode_cursor(results.last_evaluated_key))


def is_condition_failure(exc: PynamoDBException) -> bool:
    """True when a pynamodb write failed only because its condition expression was false."""
    return exc.cause_response_code == "ConditionalCheckFailedException"


def sort_key_range(attribute: Attribute[int], low: int | None, high: int | None) -> Condition | None:
    """A sort-key condition for the inclusive range [low, high] (an end is open when None)."""
    if low is not None and high is not None:
        if high < low:
            raise ValueError(f"empty range: {low} > {high}")
        return attribute.between(low, high)
    if low is not None:
        return attribute >= low
    if high is not None:
        return attribute <= high
    return None


class DecimalMapAttribute(Attribute[dict[str, Decimal]]):
    """A ``{name: Decimal}`` map stored as a JSON object of exact decimal strings (sorted keys)."""

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        if not isinstance(value, Mapping):
            raise TypeError(f"DecimalMapAttribute needs a mapping, got {type(value).__name__}")
        encoded = {}
        for name, number in value.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"map keys must be non-empty strings, got {name!r}")
            encoded[name] = str(require_decimal(number, f"value of {name!r}"))
        return json.dumps(encoded, sort_keys=True, separators=(",", ":"))

    def deserialize(self, value: Any) -> dict[str, Decimal]:
        try:
            decoded = json.loads(value)
        except ValueError as exc:
            raise StoreError(f"stored map {value[:80]!r} is not JSON") from exc
        if not isinstance(decoded, dict) or not all(isinstance(v, str) for v in decoded.values()):
            raise StoreError(f"stored map {value[:80]!r} is not a map of decimal strings")
        return {name: DecimalAttribute().deserialize(number) for name, number in decoded.items()}
