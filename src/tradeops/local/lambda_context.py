"""A Lambda context object for locally invoked handlers, shaped like the one the AWS runtime passes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradeops.routes import FunctionSpec


@dataclass
class LambdaContext:
    """The attributes and method of ``awslambdaric``'s context that handlers and powertools use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_s: float
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    started_at: float = field(default=-1.0, repr=False)

    def __post_init__(self) -> None:
        if self.started_at < 0:
            self.started_at = self.clock()

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (never negative)."""
        remaining = self.timeout_s - (self.clock() - self.started_at)
        return max(0, int(remaining * 1000))

    @property
    def timed_out(self) -> bool:
        return self.get_remaining_time_in_millis() == 0


def function_arn(spec: FunctionSpec, *, region: str, account_id: str, prefix: str = "tradeops-") -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{prefix}{spec.name}"


def make_context(
    spec: FunctionSpec,
    *,
    region: str,
    account_id: str,
    clock: Callable[[], float] = time.monotonic,
    request_id: str | None = None,
) -> LambdaContext:
    """A fresh context for one invocation of ``spec`` (new request id, deadline = now + spec timeout)."""
    name = f"tradeops-{spec.name}"
    return LambdaContext(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=function_arn(spec, region=region, account_id=account_id),
        memory_limit_in_mb=spec.memory_mb,
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        timeout_s=float(spec.timeout_s),
        clock=clock,
    )
