"""The simulator's transport: REST, market streams, WS-API, admin API, faults, rate limits."""

from tradeops.sim.server.app import RunningSim, SimServer, start_sim

__all__ = ["RunningSim", "SimServer", "start_sim"]
