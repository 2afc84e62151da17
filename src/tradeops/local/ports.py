"""Ports of the embedded stack's listening processes: fixed (``--port-base``) or free ones (0)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

DEFAULT_PORT_BASE = 4700
PORT_SLOTS: dict[str, int] = {"aws": 0, "sim": 1, "sim_md": 2, "gateway": 4, "web": 5}
"""Port of each listening process = ``port_base + slot`` (or a free port when ``port_base`` is 0)."""
FREE_PORT_FLOOR = 10_000
"""``--port-base 0`` picks ports from here up to the OS's ephemeral range."""


class PreflightError(RuntimeError):
    """Something that must be fixed before the stack can start (nothing has been started)."""


def port_in_use(host: str, port: int) -> bool:
    """True if a server could not bind ``host:port`` now (as servers do, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def ephemeral_port_floor(range_file: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The lowest port the OS gives outgoing connections (Linux's default when it cannot be read)."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_listen_ports(host: str, names: Iterable[str], *, floor: int = FREE_PORT_FLOOR) -> dict[str, int]:
    """A free port per name, at random below the OS's ephemeral range.

    A port the OS hands out for ``bind(0)`` comes from the ephemeral range, where any outgoing connection
    of any process may take it as its local port before the child binds it (seen on a busy test machine:
    the simulator failed with "address already in use"). Ports below that range are only ever taken by a
    server that asks for them.
    """
    ceiling = ephemeral_port_floor()
    if ceiling - floor < 1000:
        raise PreflightError(f"no port range below the ephemeral ports ({ceiling}) to choose from")
    pick = random.SystemRandom().randrange
    ports: dict[str, int] = {}
    for name in names:
        for _ in range(1000):
            port = pick(floor, ceiling)
            if port not in ports.values() and not port_in_use(host, port):
                ports[name] = port
                break
        else:
            raise PreflightError(f"no free port between {floor} and {ceiling} on {host}")
    return ports


def allocate_ports(host: str, port_base: int, slots: Mapping[str, int] = PORT_SLOTS) -> dict[str, int]:
    """The port of every slot; with ``port_base`` 0, free ones (:func:`free_listen_ports`). Busy ports are
    refused."""
    if port_base == 0:
        return free_listen_ports(host, slots)
    if not 1024 <= port_base <= 65535 - max(slots.values()):
        raise PreflightError(
            f"--port-base {port_base}: choose 0 (free ports) or 1024..{65535 - max(slots.values())}"
        )
    ports = {name: port_base + slot for name, slot in slots.items()}
    busy = [f"{port} ({name})" for name, port in ports.items() if port_in_use(host, port)]
    if busy:
        raise PreflightError(
            f"port(s) already in use on {host}: {', '.join(busy)} -- stop what uses them "
            "or choose another --port-base (0 picks free ports)"
        )
    return ports
