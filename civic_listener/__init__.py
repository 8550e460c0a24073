"""Civic Listener: settings, wiring (``build_services``), the CLI and the scheduler."""

__version__ = "0.1.0"
