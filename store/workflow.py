"""The case status workflow: which moves an analyst may make, and what the system does alone.

    new ──▶ verifying ──▶ confirmed ──▶ notified ◀──▶ blocked ──▶ cleared
                 │                          └───────────────────────┘
                 └──▶ false-positive ──▶ verifying (reopened by an analyst)

- An analyst moves a case one step at a time along `MOVES`; anything else is a `WorkflowError`.
- The system clears a notified or blocked case after `clear_after` days without activity
  (`AUTO_CLEAR_FROM`), and reopens a cleared case as `new` when the subscriber is seen mining
  again (offences + 1: a repeat offender). A false-positive stays false-positive when hits keep
  coming — an analyst decided; the counters still grow so the decision can be revisited.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    NEW = "new"
    VERIFYING = "verifying"
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false-positive"
    NOTIFIED = "notified"
    BLOCKED = "blocked"
    CLEARED = "cleared"


# status -> the statuses an analyst may move it to (one table; the API and CLI read it)
MOVES: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.VERIFYING, Status.FALSE_POSITIVE}),
    Status.VERIFYING: frozenset({Status.CONFIRMED, Status.FALSE_POSITIVE}),
    Status.CONFIRMED: frozenset({Status.NOTIFIED, Status.BLOCKED}),
    Status.NOTIFIED: frozenset({Status.BLOCKED, Status.CLEARED}),
    Status.BLOCKED: frozenset({Status.NOTIFIED, Status.CLEARED}),
    Status.FALSE_POSITIVE: frozenset({Status.VERIFYING}),
    Status.CLEARED: frozenset({Status.VERIFYING}),
}

AUTO_CLEAR_FROM = frozenset({Status.NOTIFIED, Status.BLOCKED})
# statuses a new hit reopens as `new` (the subscriber is mining again)
REOPEN_FROM = frozenset({Status.CLEARED})
# statuses that count as "flagged" for the verification list and the regulator check
FLAGGED = frozenset(
    {Status.NEW, Status.VERIFYING, Status.CONFIRMED, Status.NOTIFIED, Status.BLOCKED}
)


class WorkflowError(ValueError):
    """A status move the workflow does not allow."""


def check_move(current: str, target: str) -> Status:
    """The target status if an analyst may move a case from `current` to it, else raise."""
    try:
        to = Status(target)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise WorkflowError(f"unknown status {target!r} (one of: {names})") from None
    frm = Status(current)
    if to not in MOVES[frm]:
        allowed = ", ".join(sorted(s.value for s in MOVES[frm])) or "none"
        raise WorkflowError(f"a {frm.value} case cannot move to {to.value} (allowed: {allowed})")
    return to
