"""Dialer: an outbound call campaign engine."""

__version__ = "0.1.0"
