"""API keys: random tokens, stored only as sha256, with a role, a shown prefix and revocation.

Tokens are `mw_` + 43 URL-safe characters (256 random bits), so one unsalted sha256 is enough
at rest (no dictionary to attack) and verification is one indexed lookup. The first
characters (`prefix`) identify a key in listings and for `revoke` without revealing it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Engine, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base

ROLES = ("admin", "analyst", "export")  # api.auth.Role holds the same values, ranked
TOKEN_PREFIX = "mw_"
PREFIX_LEN = 11  # "mw_" + 8 characters: shown in listings, accepted by revoke


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: int
    name: str
    role: str
    prefix: str
    created: datetime
    revoked: datetime | None
    last_used: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(engine: Engine, role: str, name: str) -> tuple[int, str]:
    """A new key; returns (id, token). The token is not stored and cannot be shown again."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        name=name[:128],
        role=role,
        prefix=token[:PREFIX_LEN],
        key_hash=hash_token(token),
        created=datetime.now(UTC),
    )
    with Session(engine) as session, session.begin():
        session.add(row)
        session.flush()
        return row.id, token


def revoke_key(engine: Engine, key_id_or_prefix: str | int) -> KeyInfo:
    """Revoke one key by id or by its shown prefix; LookupError if none or several match."""
    text = str(key_id_or_prefix).strip()
    with Session(engine) as session, session.begin():
        stmt = select(ApiKeyRow)
        if text.isdigit():
            stmt = stmt.where(ApiKeyRow.id == int(text))
        elif len(text) > PREFIX_LEN:  # the whole token
            stmt = stmt.where(ApiKeyRow.key_hash == hash_token(text))
        elif len(text) >= 6:
            stmt = stmt.where(ApiKeyRow.prefix.startswith(text, autoescape=True))
        else:
            raise LookupError("give a key id or at least 6 characters of its prefix")
        rows = list(session.scalars(stmt))
        shown = text[:PREFIX_LEN]  # never echo a whole token
        if not rows:
            raise LookupError(f"no API key matches {shown!r}")
        if len(rows) > 1:
            raise LookupError(f"{len(rows)} keys match {shown!r}; give the id or a longer prefix")
        row = rows[0]
        if row.revoked is None:
            row.revoked = datetime.now(UTC)
        return _info(row)


def verify_key(engine: Engine, token: str) -> KeyInfo | None:
    """The live (not revoked) key for this token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    with Session(engine) as session:
        row = session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_token(token))
        ).one_or_none()
        if row is None or row.revoked is not None:
            return None
        return _info(row)


def touch_keys(engine: Engine, used: dict[int, datetime]) -> None:
    """Record `last_used` for several keys in one transaction (the API batches these)."""
    if not used:
        return
    with Session(engine) as session, session.begin():
        for key_id, when in used.items():
            session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used=when))


def list_keys(engine: Engine) -> list[KeyInfo]:
    with Session(engine) as session:
        return [_info(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        key_id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created=row.created,
        revoked=row.revoked,
        last_used=row.last_used,
    )
