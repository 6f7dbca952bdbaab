"""Simulated oVirt lab site: SSH hosts on loopback backed by in-memory state.

The migration program talks to these hosts with unmodified SSH/SFTP clients,
so tests exercise the same code paths as a real run without real machines.
"""
