"""``python -m dialer.simulator``: the same as ``dialer simulator``."""

import typer

from dialer.simulator.command import simulator

if __name__ == "__main__":
    typer.run(simulator)
