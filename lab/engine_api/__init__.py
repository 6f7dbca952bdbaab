"""Simulated oVirt Engine REST API (SSO + /ovirt-engine/api) for lab tests with the real ovirtsdk4."""

from .server import DEFAULT_MODEL, EngineApi, load_model
from .state import DEFAULT_DELAYS

__all__ = ["EngineApi", "load_model", "DEFAULT_MODEL", "DEFAULT_DELAYS"]
