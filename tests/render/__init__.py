"""Served block lists: formats, snapshots, the HTTP endpoints, exports."""
