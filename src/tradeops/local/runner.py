"""The local function runner: drains each function's SQS queue into ``functions/<name>/handler.py``.

EventBridge rules deliver to the ``fn-<name>`` queues (moto cannot invoke Lambda); the runner calls
``handler(event, context)`` with the real EventBridge envelope from the message body and a Lambda
context. Success deletes the message; failure logs the error as JSON with the correlation id and leaves
the message, so SQS redelivers it and, after ``maxReceiveCount``, its redrive policy moves it to the
DLQ. One thread per function: a slow or failing function never blocks the others. The timeout is
checked after the call (a thread cannot be interrupted): an overrun counts as a failure and is retried,
as in Lambda, and ``context.get_remaining_time_in_millis()`` lets handlers stop in time.

Run as a child of ``tradeops up``: ``python -m tradeops.local.runner --functions-dir functions``; it also
runs the local scheduler. Configuration comes from ``TRADEOPS_*`` variables, as in Lambda.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tradeops.config import Settings
from tradeops.local.lambda_context import make_context
from tradeops.local.provision import function_queues
from tradeops.routes import FUNCTIONS, SCHEDULES, FunctionSpec, ScheduleSpec

Handler = Callable[[dict[str, Any], Any], Any]


class HandlerLoader:
    """Imports ``<functions_dir>/<name>/handler.py`` once per function (thread-safe) and caches it."""

    def __init__(self, functions_dir: Path) -> None:
        self._dir = functions_dir
        self._cache: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        return self._dir / name / "handler.py"

    def load(self, name: str) -> Handler:
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                return cached
            path = self.path(name)
            spec = importlib.util.spec_from_file_location(f"tradeops_functions_{name}_handler", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise FileNotFoundError(f"function {name}: no handler module at {path}")
            module = importlib.util.module_from_spec(spec)
            # As in Lambda, the function's own directory is importable for its sibling modules.
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            spec.loader.exec_module(module)
            handler: Handler | None = getattr(module, "handler", None)
            if not callable(handler):
                raise TypeError(f"function {name}: {path} defines no callable 'handler'")
            self._cache[name] = handler
            return handler


class FunctionRunner:
    """Polls every function queue and invokes the handlers; ``process`` handles one message."""

    def __init__(
        self,
        settings: Settings,
        functions_dir: Path,
        *,
        functions: Sequence[FunctionSpec] = FUNCTIONS,
        account_id: str | None = None,
        wait_time_s: int = 2,
        retry_delay_s: int | None = None,
    ) -> None:
        from tradeops.aws.clients import client
        from tradeops.observability import get_logger

        self._settings = settings
        self._functions = tuple(functions)
        self._max_receives = {q.name: q.max_receive_count for q in function_queues(functions)}
        self._loader = HandlerLoader(functions_dir)
        self._sqs = client("sqs", settings)
        self.account_id: str = account_id or client("sts", settings).get_caller_identity()["Account"]
        self._wait_time_s = wait_time_s
        self._retry_delay_s = retry_delay_s
        self._log = get_logger("tradeops-runner")
        self._urls: dict[str, str] = {
            f.name: self._sqs.get_queue_url(QueueName=settings.queue_name(f.queue_name))["QueueUrl"]
            for f in self._functions
        }

    def queue_url(self, function: str) -> str:
        return self._urls[function]

    def send_scheduled(self, schedule: ScheduleSpec, envelope: dict[str, Any]) -> None:
        """The scheduler's sender: the envelope goes to the function's queue like a rule delivery."""
        self._sqs.send_message(QueueUrl=self._urls[schedule.function], MessageBody=json.dumps(envelope))

    def poll_once(self, spec: FunctionSpec) -> int:
        """Receive one batch from the function's queue and process it; returns the messages received."""
        response = self._sqs.receive_message(
            QueueUrl=self._urls[spec.name],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self._wait_time_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        for message in messages:
            self.process(spec, message)
        return len(messages)

    def process(self, spec: FunctionSpec, message: dict[str, Any]) -> bool:
        """Invoke the handler for one message; True (and the message deleted) on success."""
        from tradeops.observability import correlation_id_from_event, correlation_scope

        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        max_receives = self._max_receives[spec.queue_name]
        fields: dict[str, Any] = {
            "function": spec.name,
            "message_id": message.get("MessageId"),
            "receive_count": receives,
            "max_receive_count": max_receives,
            "to_dead_letter_queue_next": receives >= max_receives,
        }
        try:
            event = json.loads(message["Body"])
            if not isinstance(event, dict):
                raise ValueError("the message body is not a JSON object")
        except ValueError as exc:
            self._log.error("function %s: rejected an undecodable event: %s", spec.name, exc, extra=fields)
            self._retry_later(spec, message)
            return False
        fields.update(
            event_id=event.get("id"), detail_type=event.get("detail-type"), source=event.get("source")
        )
        context = make_context(spec, region=self._settings.region, account_id=self.account_id)
        fields["aws_request_id"] = context.aws_request_id
        with correlation_scope(correlation_id_from_event(event)):
            started = time.monotonic()
            try:
                self._loader.load(spec.name)(event, context)
            except Exception as exc:
                fields.update(error_type=type(exc).__name__, error=str(exc), stack=traceback.format_exc())
                self._log.error("function %s failed: %s", spec.name, exc, extra=fields)
                self._retry_later(spec, message)
                return False
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            if context.timed_out:
                fields.update(error_type="TimeoutError", duration_ms=duration_ms)
                self._log.error(
                    "function %s: task timed out after %s s", spec.name, spec.timeout_s, extra=fields
                )
                self._retry_later(spec, message)
                return False
            self._sqs.delete_message(QueueUrl=self._urls[spec.name], ReceiptHandle=message["ReceiptHandle"])
            self._log.info("function %s succeeded", spec.name, extra={**fields, "duration_ms": duration_ms})
            return True

    def _retry_later(self, spec: FunctionSpec, message: dict[str, Any]) -> None:
        """Leave the message; optionally shorten its visibility so the retry comes sooner."""
        if self._retry_delay_s is not None:
            self._sqs.change_message_visibility(
                QueueUrl=self._urls[spec.name],
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self._retry_delay_s,
            )

    def _loop(self, spec: FunctionSpec, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                self.poll_once(spec)
                backoff = 1.0
            except Exception as exc:  # the queue itself failed (moto restarting): back off, keep going
                self._log.error(
                    "function %s: polling failed: %s", spec.name, exc, extra={"function": spec.name}
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """One daemon polling thread per function, running until ``stop`` is set."""
        threads = [
            threading.Thread(target=self._loop, args=(f, stop), name=f"fn-{f.name}", daemon=True)
            for f in self._functions
        ]
        for thread in threads:
            thread.start()
        return threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradeops.local.runner", description="Local Lambda runner.")
    parser.add_argument("--functions-dir", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, help="gets the runner's pid once every queue is polled")
    parser.add_argument("--retry-delay-s", type=int, help="visibility after a failure (default: the queue's)")
    args = parser.parse_args(argv)

    from tradeops.local.child import stop_event
    from tradeops.local.scheduler import Scheduler
    from tradeops.local.streams import StreamPoller
    from tradeops.observability import configure_process_logging

    stop = stop_event()
    log = configure_process_logging("tradeops-runner")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings()
    runner = FunctionRunner(settings, args.functions_dir, retry_delay_s=args.retry_delay_s)
    scheduler = Scheduler(
        SCHEDULES,
        runner.send_scheduled,
        region=settings.region,
        account_id=runner.account_id,
        bus_name=settings.bus_name,
        on_error=lambda s, e: log.error(
            "schedule %s: could not fire: %s", s.name, e, extra={"schedule": s.name}
        ),
    )
    threads = runner.start(stop)
    threads.append(threading.Thread(target=scheduler.run, args=(stop,), name="scheduler", daemon=True))
    threads[-1].start()
    # Functions with a stream_table also get their table's DynamoDB stream (as a Lambda event source).
    streams = StreamPoller(settings, HandlerLoader(args.functions_dir).load, account_id=runner.account_id)
    threads.append(streams.start(stop))
    if args.ready_file:
        args.ready_file.parent.mkdir(parents=True, exist_ok=True)
        args.ready_file.write_text(json.dumps({"pid": os.getpid(), "functions": [f.name for f in FUNCTIONS]}))
    log.info("runner polling %d function queue(s), %d schedule(s)", len(FUNCTIONS), len(SCHEDULES))
    stop.wait()
    for thread in threads:
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
