"""Fixtures of the capture tests."""

from .partner import partner as partner  # a server with a partner matching kind
