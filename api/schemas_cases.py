"""Request and response models for cases, the verification list and subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas import HitOut, Out
from store.workflow import Status


class CaseOut(Out):
    """One case: a subscriber talking to one pool endpoint, with its evidence and status."""

    id: int = Field(examples=[17])
    subscriber_ip: str = Field(examples=["10.20.30.40"])
    account: str = Field(examples=["ACC-0042"])
    name: str = Field(examples=["No. 3 Middle School"])
    sector: str = Field(examples=["school"])
    region: str = Field(examples=["north"])
    pool_ip: str = Field(examples=["203.0.113.7"])
    pool_port: int = Field(examples=[3333])
    transport: str = Field(examples=["tcp"], description='"dns" for a pool-name lookup case')
    pool_domain: str = Field(
        "", examples=[""], description="The pool name looked up (DNS-name cases only)"
    )
    pool_country: str | None = Field(None, examples=["US"])
    pool_asn: int | None = Field(None, examples=[64500])
    pool_as_org: str | None = Field(None, examples=["Example Hosting"])
    cls: str = Field(examples=["mining"])
    variant: str = Field(examples=["stratum-json-rpc"])
    status: str = Field(examples=["new"])
    first_seen: datetime
    last_seen: datetime
    hits: int = Field(examples=[12])
    flows: int = Field(examples=[12])
    packets: int = Field(examples=[1440])
    bytes: int = Field(examples=[578532])
    confidence: float = Field(examples=[0.95])
    evidence: dict[str, int] = Field(examples=[{"stratum": 10, "ip-list": 12}])
    detail: dict[str, Any] = Field(examples=[{"coin": "XMR"}])
    offences: int = Field(examples=[1], description="> 1: a repeat offender")
    updated: datetime


class CasePage(Out):
    items: list[CaseOut]
    next_cursor: int | None = Field(None, description="Pass as `cursor` for the next page")


class AuditOut(Out):
    at: datetime
    actor: str = Field(examples=["analyst-wang"])
    action: str = Field(examples=["status"])
    from_status: str | None = Field(None, examples=["new"])
    to_status: str = Field(examples=["verifying"])
    note: str = Field(examples=["called the school's IT office"])


class CaseDetail(Out):
    case: CaseOut
    audit: list[AuditOut]
    moves: list[str] = Field(examples=[["verifying", "false-positive"]],
                             description="Statuses this case may move to next")  # fmt: skip


class CasePatch(Out):
    """A workflow move; the actor recorded in the audit trail is the API key's name."""

    status: Status = Field(examples=["verifying"])
    note: str = Field("", max_length=2000, examples=["assigned to the northern region team"])


class CheckRequest(Out):
    ips: list[str] = Field(examples=[["10.20.30.40", "198.51.100.9"]], max_length=1_000_000)


Verdict = Literal["flagged", "known", "clear", "invalid"]


class VerdictOut(Out):
    ip: str = Field(examples=["10.20.30.40"], description="Canonical form; as sent when invalid")
    verdict: Verdict = Field(examples=["flagged"])
    reason: str = Field("", examples=[""])
    cases: list[CaseOut]


class CheckResponse(Out):
    counts: dict[str, int] = Field(examples=[{"flagged": 1, "known": 0, "clear": 1, "invalid": 0}])
    results: list[VerdictOut]


class SubscriberOut(Out):
    ip: str = Field(examples=["10.20.30.40"])
    account: str = Field(examples=["ACC-0042"])
    name: str = Field(examples=["No. 3 Middle School"])
    sector: str = Field(examples=["school"])
    region: str = Field(examples=["north"])
    offences: int = Field(examples=[2])
    repeat_offender: bool = Field(examples=[True])
    cases: list[CaseOut]
    recent_hits: list[HitOut]
