"""Ctrl-C and SIGTERM for `minewatch scan` that cannot get lost.

Python raises KeyboardInterrupt (or our SystemExit for SIGTERM) wherever the main thread happens
to be. If that is inside a finalizer (`__del__`, a weakref callback, a generator closed by the
garbage collector), Python prints "Exception ignored" and drops the exception. A scan of
thousands of files runs many finalizers, so now and then an interrupted scan ran on to the end
and exited 0. The handler therefore also records the signal, and the scan checks the record
before each file and once more at the end: a dropped interrupt is raised again.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import overload


class StopOnSignal:
    """Installs the SIGINT/SIGTERM handlers; `files` wraps the scan's file list."""

    def __init__(self) -> None:
        self.signum = 0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        self.check()

    def check(self) -> None:
        """Raise for a signal received so far: KeyboardInterrupt for Ctrl-C (click prints
        "Aborted!" and exits 1), exit status 128 + n for SIGTERM (a service stop)."""
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum:
            sys.exit(128 + self.signum)

    def files(self, files: Sequence[Path]) -> Sequence[Path]:
        """`files`, checking for a received signal before each one is handed out."""
        return _Checked(files, self)


class _Checked(Sequence[Path]):
    def __init__(self, files: Sequence[Path], stop: StopOnSignal) -> None:
        self._files, self._stop = files, stop

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, i: int) -> Path: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Path]: ...
    def __getitem__(self, i: int | slice) -> Path | Sequence[Path]:
        return self._files[i]

    def __iter__(self) -> Iterator[Path]:
        for path in self._files:
            self._stop.check()
            yield path
