"""Response models for health and hits: the API's shape, separate from the tables (STYLE 11)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def _canonical_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 address") from None


# an IP address parameter: validated with a short message, canonical text afterwards
IP = Annotated[str, Field(max_length=64, examples=["10.20.30.40"]), AfterValidator(_canonical_ip)]


class Out(BaseModel):
    """Base of every response model: built from store views by attribute. Times are UTC (SQLite
    hands back naive datetimes; they were stored as UTC)."""

    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Health(Out):
    status: Literal["ok"] = "ok"


class Ready(Out):
    status: Literal["ready", "not-ready"] = Field(examples=["ready"])
    database: str = Field(examples=["ok"], description="ok, or why the database is not usable")
    schema_version: str | None = Field(None, examples=["0002"])


class HitOut(Out):
    """One flagged flow as the detector saw it."""

    id: int = Field(examples=[1042])
    source: str = Field(examples=["collect:netflow"])
    first_ts: datetime
    last_ts: datetime
    transport: str = Field(examples=["tcp"])
    client_ip: str = Field(examples=["10.20.30.40"])
    client_port: int = Field(examples=[51544])
    server_ip: str = Field(examples=["203.0.113.7"])
    server_port: int = Field(examples=[3333])
    cls: str = Field(examples=["mining"], description="mining or coin-p2p")
    evidence: list[str] = Field(examples=[["stratum", "ip-list"]])
    variant: str = Field(examples=["stratum-json-rpc"])
    confidence: float = Field(examples=[0.95])
    detail: dict[str, Any] = Field(examples=[{"method": "mining.subscribe"}])
    packets: int = Field(examples=[120])
    bytes: int = Field(examples=[48211])


class HitPage(Out):
    items: list[HitOut]
    next_cursor: int | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page"
    )


JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def fast_json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise store views (dataclasses) straight to JSON with orjson, skipping a second
    pydantic pass on hot list endpoints; the shape is the documented response model's (the
    tests and schemathesis check that)."""
    return Response(orjson.dumps(payload, option=JSON_OPTIONS), status, headers,
                    media_type="application/json")  # fmt: skip
