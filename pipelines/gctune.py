"""Garbage-collector settings for the processes that run the packet pipeline.

Detection allocates many short-lived, acyclic objects per flow (evidence, details, hits), which
reference counting frees at once. With CPython's default thresholds (700, 10, 10) the cycle
collector still ran a young collection every 700 allocations and a full one, over every object
of the process (the compiled block list's entries, modules, memories), every 70,000: 8-11% of a
scan's CPU time on the shared captures. A young generation of 10,000 and rare full collections
keep cycles collected while cutting that to noise; larger young generations measured slower
(the young objects no longer fit in the CPU caches).
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """Apply `THRESHOLDS` to this process (the scan, and each scan, capture or collect worker)."""
    gc.set_threshold(*THRESHOLDS)
