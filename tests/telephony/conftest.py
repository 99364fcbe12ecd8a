"""The simulator's fixtures (a callback receiver, fast settings) serve the adapter's tests too."""

from tests.simulator.conftest import ACCOUNT_SID, TOKEN, Receiver, receiver, sim_config

__all__ = ["ACCOUNT_SID", "TOKEN", "Receiver", "receiver", "sim_config"]
