"""The ExaBGP process: announce the block list, then follow its changes.

ExaBGP starts `minewatch bgp-feed` from its configuration (`process … { run …; encoder text; }`)
and reads one command per line from our stdout. It answers each command on our stdin with
`done` or `error` (ExaBGP 4.x/5.x default, `exabgp.api.ack`), writes `shutdown …` when it
stops, and closes the pipe when it dies. `ExaBGPChannel` matches answers to commands in order,
so the feed's idea of what the peer holds (`Feed.state`) only changes for commands ExaBGP
accepted; a refused command is retried on the next change (it is still in the difference).
At most `window` commands are unanswered at a time (a 100k-route start does not fill the
pipe), and ExaBGP that never answers (acks disabled on its side) is noticed after
`ack_timeout` and then treated as ack-less, with a warning.

On start the feed first sends `clear adj-rib out`: ExaBGP keeps its routes when it respawns
a process that died, and routes withdrawn from the list while we were down would otherwise
stay announced for ever.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from pipelines.exporters.rtbh import (
    Command,
    Policy,
    Route,
    Selection,
    announce_line,
    plan,
    withdraw_line,
)

CLEAR = "clear adj-rib out"


class PeerGone(Exception):
    """ExaBGP closed our stdin or said `shutdown`: time to exit."""


class ExaBGPChannel:
    """Commands to ExaBGP (a text stream), answers from it (read by a daemon thread)."""

    def __init__(
        self, out: TextIO, inp: TextIO | None, *, ack: bool = True, window: int = 200,
        ack_timeout: float = 30.0, log: Callable[[str], None] = print,
    ) -> None:  # fmt: skip
        self.out = out
        self.ack = ack and inp is not None
        self.window = max(1, window)
        self.ack_timeout = ack_timeout
        self.log = log
        self.errors = 0
        self.sent = 0
        self.gone = threading.Event()
        self._answers: queue.Queue[str] = queue.Queue()
        if inp is not None:
            threading.Thread(target=self._read, args=(inp,), name="exabgp-acks",
                             daemon=True).start()  # fmt: skip

    def _read(self, inp: TextIO) -> None:
        for raw in inp:
            line = raw.strip()
            if line in ("done", "error"):
                self._answers.put(line)
            elif line.startswith("shutdown"):
                break
            # anything else (neighbor events if the operator enabled them) is not for us
        self.gone.set()
        self._answers.put("gone")

    def write(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
        except (BrokenPipeError, ValueError) as exc:  # ValueError: stream already closed
            raise PeerGone(f"cannot write to ExaBGP: {exc}") from exc
        self.sent += 1

    def flush(self) -> None:
        try:
            self.out.flush()
        except BrokenPipeError as exc:
            raise PeerGone(f"cannot write to ExaBGP: {exc}") from exc

    def answer(self) -> bool:
        """Wait for the next answer: True for `done`, False for `error`."""
        try:
            got = self._answers.get(timeout=self.ack_timeout)
        except queue.Empty:
            self.log(f"warning: ExaBGP did not answer within {self.ack_timeout:g} s; "
                     "continuing without acks (is exabgp.api.ack disabled?)")  # fmt: skip
            self.ack = False
            return True
        if got == "gone":
            raise PeerGone("ExaBGP closed the API pipe")
        return got == "done"

    def run(self, state: set[Route], commands: Sequence[Command], policy: Policy) -> set[Route]:
        """Send `commands`; return the routes the peer holds afterwards (refused ones not
        applied)."""
        out = set(state)
        pending: list[Command] = []

        def settle(n: int) -> None:
            for _ in range(n):
                cmd = pending.pop(0)
                if not self.ack or self.answer():
                    out.add(cmd[1]) if cmd[0] == "announce" else out.discard(cmd[1])
                else:
                    self.errors += 1
                    self.log(f"error: ExaBGP refused: {_line(cmd, policy)}")

        for cmd in commands:
            self.write(_line(cmd, policy))
            pending.append(cmd)
            if len(pending) >= self.window:
                self.flush()
                settle(len(pending) - self.window // 2)
        self.flush()
        settle(len(pending))
        return out

    def command(self, line: str) -> bool:
        """One control command (e.g. `clear adj-rib out`); whether ExaBGP accepted it."""
        self.write(line)
        self.flush()
        return not self.ack or self.answer()


def _line(cmd: Command, policy: Policy) -> str:
    action, route = cmd
    return announce_line(route, policy) if action == "announce" else withdraw_line(route)


@dataclass(slots=True)
class Feed:
    """Polls the list and keeps ExaBGP in step with it."""

    channel: ExaBGPChannel
    select: Callable[[], Selection | None]  # None: unchanged since the last call
    policy: Policy
    interval: float = 10.0
    clear: bool = True
    log: Callable[[str], None] = print
    state: set[Route] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    changes: int = 0
    _reported: tuple[int, int] = (-1, -1)

    def step(self) -> None:
        sel = self.select()
        if sel is None:
            return
        self._report(sel)
        commands = plan(self.state, sel.routes)
        if commands:
            self.state = self.channel.run(self.state, commands, self.policy)
            self.changes += 1
            withdrawn = sum(1 for a, _ in commands if a == "withdraw")
            self.log(f"bgp-feed: {len(commands) - withdrawn} announced, {withdrawn} withdrawn, "
                     f"{len(self.state)} routes held")  # fmt: skip

    def _report(self, sel: Selection) -> None:
        now = (len(sel.refused), sel.capped)
        if now == self._reported:
            return
        self._reported = now
        for entry, why in sel.refused[:20]:
            self.log(f"SAFETY STOP: not announcing {entry.value} ({entry.source}): {why}")
        if len(sel.refused) > 20:
            self.log(f"SAFETY STOP: … and {len(sel.refused) - 20} more prefixes refused")
        if sel.capped:
            self.log(f"SAFETY STOP: route cap reached, {sel.capped} routes not announced "
                     "(raise --max-routes if the router can hold them)")  # fmt: skip

    def run(self) -> int:
        """Until SIGTERM (`stop`) or ExaBGP goes away; the exit status."""
        try:
            if self.clear and not self.channel.command(CLEAR):
                self.log(f"warning: ExaBGP refused {CLEAR!r}")
            while not self.stop.is_set() and not self.channel.gone.is_set():
                self.step()
                self.stop.wait(self.interval)
        except PeerGone as exc:
            self.log(f"bgp-feed: {exc}; exiting")
        return 0


def stderr_log(message: str) -> None:
    """Log lines go to stderr: stdout belongs to ExaBGP."""
    print(f"{time.strftime('%FT%T')} {message}", file=sys.stderr, flush=True)
