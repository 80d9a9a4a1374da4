"""An interrupt that Python drops inside a finalizer still stops `minewatch scan`."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from minewatch.interrupt import StopOnSignal


@pytest.fixture(autouse=True)
def _restore_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


class _SignalsInFinalizer:
    """Sends a signal from its __del__ and keeps running Python code there, so the handler's
    exception is raised inside the finalizer, where Python prints and drops it."""

    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)
        for _ in range(1000):  # the handler runs between these bytecodes
            pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_dropped_interrupt_is_raised_at_the_next_file(
    sig: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_value))
    stop = StopOnSignal()
    files = stop.files([Path("a.pcap"), Path("b.pcap")])
    it = iter(files)
    assert next(it) == Path("a.pcap")
    victim = _SignalsInFinalizer(sig)
    del victim  # the exception is lost in __del__ ("Exception ignored in ...")
    gc.collect()
    assert stop.signum == sig
    want: type[BaseException] = KeyboardInterrupt if sig == signal.SIGINT else SystemExit
    assert len(dropped) == 1 and isinstance(dropped[0], want)  # Python did drop it
    with pytest.raises(want) as info:
        next(it)
    if sig == signal.SIGTERM:
        assert info.value.code == 128 + signal.SIGTERM
    with pytest.raises(want):
        stop.check()  # and again at the end of the run


def test_without_a_signal_nothing_changes() -> None:
    stop = StopOnSignal()
    files = [Path("a.pcap"), Path("b.pcap"), Path("c.pcap")]
    wrapped = stop.files(files)
    assert list(wrapped) == files and len(wrapped) == 3 and wrapped[1] == files[1]
    stop.check()


def test_the_signal_still_interrupts_at_once() -> None:
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    assert stop.signum == signal.SIGINT
