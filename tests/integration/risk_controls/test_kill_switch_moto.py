"""KillSwitch and ``tradeops kill-switch`` on moto: versioned halt, journal, events, idempotency, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradeops.change_management import ChangeConflict, ChangeService, Operator
from tradeops.cli import app as cli
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged, EventDetail, KillSwitchEngaged
from tradeops.kill_switch import KillSwitch, event_id_for
from tradeops.kill_switch_commands import EXIT_ALREADY_HALTED, EXIT_DONE, EXIT_USAGE
from tradeops.local.provision import provision
from tradeops.store.control import ControlStore
from tradeops.store.journal import JournalStore
from tradeops.store.proposals import ProposalStatus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
RISK_A = Operator("risk-a", frozenset({"risk"}))
RISK_B = Operator("risk-b", frozenset({"risk"}))


class Sink:
    def __init__(self) -> None:
        self.events: list[EventDetail] = []
        self.fail = False

    def publish(self, event: EventDetail) -> None:
        if self.fail:
            raise ConnectionError("bus down")
        self.events.append(event)


@pytest.fixture
def stack(aws_settings: Settings) -> Settings:
    provision(aws_settings)
    return aws_settings


def control_journal(settings: Settings) -> list[Any]:
    return JournalStore(settings).read("control")


def test_engage_halts_journals_and_publishes_once(stack: Settings) -> None:
    sink = Sink()
    switch = KillSwitch(stack, sink, clock_ms=lambda: 1234)
    done = switch.engage("desk says stop", "alice", request_id="req-1")
    assert (done.state, done.changed, done.flatten) == (TradingState.HALTED, True, False)
    record = ControlStore(stack).trading()
    assert record is not None and record.state is TradingState.HALTED and record.version == 1
    assert (record.updated_by, record.updated_at, record.reason) == ("alice", 1234, "desk says stop [req-1]")
    control, engaged = sink.events
    assert isinstance(control, ControlChanged) and isinstance(engaged, KillSwitchEngaged)
    assert control.event_id == event_id_for("req-1", "control-changed")
    assert control.value == {"state": "HALTED", "version": 1, "request_id": "req-1"}
    assert (engaged.actor, engaged.reason, engaged.flatten) == ("alice", "desk says stop", False)
    (entry,) = control_journal(stack)
    assert (entry.kind, entry.actor, entry.payload["request_id"], entry.payload["changed"]) == (
        "kill_switch_engaged",
        "alice",
        "req-1",
        True,
    )

    again = switch.engage("second press", "bob")
    assert not again.changed and again.control.version == 1 and len(sink.events) == 2  # one halt only
    retry = switch.engage("desk says stop", "alice", request_id="req-1")  # the same request retried
    assert retry.changed and retry.event_ids == done.event_ids
    assert [e.payload["changed"] for e in control_journal(stack)] == [True, False, True]


def test_flatten_on_an_existing_halt_is_still_requested(stack: Settings) -> None:
    sink = Sink()
    switch = KillSwitch(stack, sink)
    switch.engage("first", "alice", request_id="a")
    later = switch.engage("close it all", "bob", flatten=True, request_id="b")
    assert not later.changed and later.flatten
    hint = sink.events[-1]
    assert (
        isinstance(hint, ControlChanged) and hint.value["flatten"] is True and hint.value["request_id"] == "b"
    )


def test_a_failed_announcement_raises_after_the_halt_is_written_and_journaled(stack: Settings) -> None:
    sink = Sink()
    sink.fail = True
    switch = KillSwitch(stack, sink)
    with pytest.raises(ConnectionError):
        switch.engage("stop", "alice", request_id="r")
    record = ControlStore(stack).trading()
    assert record is not None and record.state is TradingState.HALTED
    assert len(control_journal(stack)) == 1
    sink.fail = False
    assert switch.engage("stop", "alice", request_id="r").changed  # the retry announces it
    assert {type(e) for e in sink.events} == {ControlChanged, KillSwitchEngaged}


def test_restrict_never_loosens_a_halt(stack: Settings) -> None:
    switch = KillSwitch(stack, Sink())
    assert switch.restrict("exposure", "risk-monitor").state is TradingState.REDUCING
    assert switch.engage("loss", "risk-monitor").changed
    softer = switch.restrict("exposure again", "risk-monitor")
    assert not softer.changed and softer.state is TradingState.HALTED


def test_resume_needs_a_second_approver(stack: Settings) -> None:
    sink = Sink()
    switch = KillSwitch(stack, sink)
    with pytest.raises(ChangeConflict):
        switch.request_resume("nothing halted", RISK_A)
    switch.engage("stop", "alice")
    proposal = switch.request_resume("all clear", RISK_A)
    assert proposal.status is ProposalStatus.PENDING
    applied = ChangeService(stack, sink).approve(proposal.proposal_id, RISK_B)
    assert applied.status is ProposalStatus.APPLIED
    status = switch.status()
    assert status is not None and status.state is TradingState.ACTIVE


def test_cli_engages_reports_and_shows_the_status(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TRADEOPS_AWS_ENDPOINT_URL": stack.aws_endpoint_url or "",
        "TRADEOPS_REGION": stack.region,
        "TRADEOPS_TABLE_PREFIX": stack.table_prefix,
        "TRADEOPS_BUS_NAME": stack.bus_name,
        "TRADEOPS_QUEUE_PREFIX": stack.queue_prefix,
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    first = runner.invoke(cli, ["kill-switch", "--aws", "--reason", "drill", "--actor", "carol"])
    assert first.exit_code == EXIT_DONE, first.output
    assert "HALTED" in first.output and "carol" in first.output
    second = runner.invoke(cli, ["kill-switch", "--aws", "--reason", "again", "--flatten"])
    assert second.exit_code == EXIT_ALREADY_HALTED, second.output
    assert "already HALTED and flattening" in second.output
    status = runner.invoke(cli, ["kill-switch", "status", "--aws"])
    assert status.exit_code == EXIT_DONE and status.output.startswith("HALTED (version 1) set by carol")
    assert runner.invoke(cli, ["kill-switch", "--aws"]).exit_code == EXIT_USAGE  # no reason
    missing = runner.invoke(
        cli, ["kill-switch", "--reason", "x", "--endpoints", str(Path("/nonexistent.json"))]
    )
    assert missing.exit_code == EXIT_USAGE
