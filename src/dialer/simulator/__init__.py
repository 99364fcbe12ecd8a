"""A telephony provider simulator speaking Twilio's REST and status-callback wire format, with
configurable outcomes and timings in simulated time, a CPS limit, fault injection, and an
observer that reports what it saw (``GET /_sim/stats``)."""

from dialer.simulator.app import create_app
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.observer import Observer
from dialer.simulator.server import running_simulator, serve

__all__ = ["Observer", "Outcome", "SimulatorConfig", "create_app", "running_simulator", "serve"]
