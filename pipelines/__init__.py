"""Packet and flow pipelines: sources, decoders, flow table, scan, collect and capture."""

from pipelines.kernel_env import use_kernel_cache

use_kernel_cache()  # before any kernel of the package is decorated
