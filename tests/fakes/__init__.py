"""Fakes that speak real wire formats (and a tiny rule classifier for pipeline tests)."""
