"""A simulated Asterisk 22 that speaks ARI over real HTTP and WebSocket, with a control API for tests.

A separate package: it never imports the router, and the router never imports it.
Run it on its own with `python -m asterisk_sim --port 8088`.
"""

from asterisk_sim.answers import AriFault
from asterisk_sim.control_api import Fault
from asterisk_sim.objects import INBOUND_CONTEXT, AgentScript
from asterisk_sim.server import Simulator
from asterisk_sim.world import World, contexts_of

__all__ = ["INBOUND_CONTEXT", "AgentScript", "AriFault", "Fault", "Simulator", "World", "contexts_of"]
