"""Typed wire fields of events and API bodies, and the envelope every event detail carries (DESIGN §4.2).

Money and quantities are ``DecimalStr``: a plain decimal string (or an int) on the wire, ``Decimal`` in
Python; JSON floats are refused everywhere, including free-form objects (``JsonObject``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from tradeops.domain.values import to_decimal

_DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
_DECIMAL_RE = re.compile(_DECIMAL_PATTERN)


def _exact_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("floats are refused for money and quantities: send a decimal string")
    if isinstance(value, str) and not _DECIMAL_RE.match(value):
        raise ValueError(f"{value!r} is not a plain decimal string (e.g. '0.015')")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"expected a decimal string, got {type(value).__name__}")
    return to_decimal(value)


def _refuse_floats(value: Any, path: str = "") -> Any:
    if isinstance(value, float):
        raise ValueError(f"float at {path or 'top level'} refused: send numbers as decimal strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_floats(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_floats(item, f"{path}[{index}]")
    return value


DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_exact_decimal),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": _DECIMAL_PATTERN}, {"type": "integer"}]}),
]
PositiveDecimal = Annotated[DecimalStr, Field(gt=0)]
NonNegativeDecimal = Annotated[DecimalStr, Field(ge=0)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,128}$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,20}/[A-Z0-9]{2,20}$")]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]
EpochMillis = Annotated[StrictInt, Field(ge=0)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_refuse_floats)]


class EventDetail(BaseModel):
    """The envelope fields every detail carries; subclasses set ``DETAIL_TYPE`` (Title Case)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    DETAIL_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: StrictInt = 1
    event_id: Identifier = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: Identifier

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != cls.SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value} (supported: {cls.SCHEMA_VERSION})")
        return value
