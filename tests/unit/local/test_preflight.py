"""`tradeops up` checks host, state dir, dependencies, function code and ports before starting anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tradeops.local.ports import (
    FREE_PORT_FLOOR,
    PreflightError,
    allocate_ports,
    ephemeral_port_floor,
    port_in_use,
)
from tradeops.local.up import check_dependencies, check_functions, check_host, lock_state_dir
from tradeops.routes import FunctionSpec


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_loopback_only() -> None:
    check_host("127.0.0.1")
    check_host("localhost")
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(PreflightError, match="loopback only"):
            check_host(host)


def test_missing_dependency_is_named() -> None:
    check_dependencies(["json"])
    with pytest.raises(PreflightError, match=r"tradeops_no_such_module \(ModuleNotFoundError"):
        check_dependencies(["json", "tradeops_no_such_module"])


def test_missing_function_code_is_named(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    (tmp_path / "present" / "handler.py").write_text("def handler(e, c): pass\n")
    check_functions(tmp_path, [FunctionSpec("present")])
    with pytest.raises(PreflightError, match=r"absent/handler\.py"):
        check_functions(tmp_path, [FunctionSpec("present"), FunctionSpec("absent")])


def test_busy_port_is_named(listening: int) -> None:
    assert port_in_use("127.0.0.1", listening)
    with pytest.raises(
        PreflightError, match=rf"{listening} \(aws\).*already in use|already in use.*{listening} \(aws\)"
    ):
        allocate_ports("127.0.0.1", listening, {"aws": 0})


def test_fixed_ports_follow_the_base() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    assert allocate_ports("127.0.0.1", base, {"aws": 0}) == {"aws": base}


def test_port_base_zero_picks_distinct_free_ports_below_the_ephemeral_range() -> None:
    ports = allocate_ports("127.0.0.1", 0, {"aws": 0, "sim": 1, "api": 2})
    assert len(set(ports.values())) == 3
    assert not any(port_in_use("127.0.0.1", p) for p in ports.values())
    # an outgoing connection's local port comes from the ephemeral range: it can never take these
    assert all(FREE_PORT_FLOOR <= p < ephemeral_port_floor() for p in ports.values()), ports


def test_the_ephemeral_range_is_read_from_the_os_or_defaults(tmp_path: Path) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("40000\t60999\n")
    assert ephemeral_port_floor(ranges) == 40000
    assert ephemeral_port_floor(tmp_path / "missing") == 32768


def test_port_base_out_of_range() -> None:
    with pytest.raises(PreflightError, match="--port-base 80"):
        allocate_ports("127.0.0.1", 80, {"aws": 0})


def test_state_dir_is_locked_by_one_up(tmp_path: Path) -> None:
    with ExitStack() as first:
        lock_state_dir(tmp_path, first)
        with ExitStack() as second, pytest.raises(PreflightError, match="another `tradeops up`"):
            lock_state_dir(tmp_path, second)
    with ExitStack() as third:
        lock_state_dir(tmp_path, third)
