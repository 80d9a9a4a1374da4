"""Starting and describing scan worker processes (file scan and live capture alike).

Workers start from a fork server that has imported this package: fast, and no fork of a process
that already runs numba code or threads. Where there is no fork server, each worker spawns a
fresh interpreter.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Literal

# what the fork server imports: the whole package (worker code and the kernels it loads)
_PRELOAD = __name__.rpartition(".")[0]


class WorkerError(RuntimeError):
    """A scan worker failed or died: the scan is incomplete."""


StartMethod = Literal["forkserver", "spawn"]


def mp_context(start_method: StartMethod | None = None) -> ForkServerContext | SpawnContext:
    """Workers start from a fork server that has imported this package (fast, and no fork of a
    process that already runs numba code or threads), else by spawning a fresh interpreter."""
    if start_method is None:
        start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if start_method == "spawn":
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([_PRELOAD])
    return ctx


def prestart(start_method: StartMethod | None = None) -> None:
    """Start the fork server now, so that its imports overlap with the caller's own start-up
    (building the block list); `ParallelScanner` would otherwise start it on first use."""
    if isinstance(mp_context(start_method), ForkServerContext):
        forkserver.ensure_running()


def default_workers() -> int:
    """CPUs this process may run on (`--workers 0`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def exit_reason(process: BaseProcess) -> str:
    """How a worker that is gone (or silent) ended, for the error message."""
    code = process.exitcode
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
