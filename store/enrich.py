"""Country and ASN of pool endpoints from MaxMind-format (mmdb) databases.

Reads the GeoLite2/GeoIP2 Country or City layout (`country.iso_code`, falling back to
`registered_country.iso_code`) and the GeoLite2 ASN layout (`autonomous_system_number`,
`autonomous_system_organization`); DB-IP lite databases use the same layouts, and ipinfo's
flat layout (`country: "CN"`, `asn: "AS4134"`, `as_name`/`name`) is understood too. One file
may serve as both databases (e.g. ipinfo country_asn). Paths come from the caller or from
MINEWATCH_GEOIP_COUNTRY / MINEWATCH_GEOIP_ASN; unset means no enrichment (fields are None).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

ENV_COUNTRY = "MINEWATCH_GEOIP_COUNTRY"
ENV_ASN = "MINEWATCH_GEOIP_ASN"
CACHE_SIZE = 65536


class EnrichError(ValueError):
    """A configured database that cannot be opened."""


@dataclass(frozen=True, slots=True)
class Geo:
    country: str | None  # ISO 3166 alpha-2
    asn: int | None
    as_org: str | None


NO_GEO = Geo(None, None, None)


def _open(path: Path | None, what: str) -> Any:
    if path is None:
        return None
    try:
        return maxminddb.open_database(str(path))
    except FileNotFoundError as exc:
        raise EnrichError(f"GeoIP {what} database not found: {path}") from exc
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise EnrichError(f"GeoIP {what} database {path} not usable: {exc}") from exc


def _country(rec: Mapping[str, Any]) -> str | None:
    for k in ("country", "registered_country"):
        v = rec.get(k)
        code = v.get("iso_code") if isinstance(v, Mapping) else v
        if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
            return code.upper()
    code = rec.get("country_code")
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


def _asn(rec: Mapping[str, Any]) -> tuple[int | None, str | None]:
    num = rec.get("autonomous_system_number", rec.get("asn"))
    if isinstance(num, str):
        digits = num[2:] if num[:2].upper() == "AS" else num
        num = int(digits) if digits.isdigit() else None
    if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < 1 << 32:
        num = None
    org = rec.get("autonomous_system_organization") or rec.get("as_name") or rec.get("name")
    return num, org if isinstance(org, str) else None


def _record(reader: Any, ip: str) -> Mapping[str, Any]:
    if reader is None:
        return {}
    try:
        rec = reader.get(ip)
    except (ValueError, TypeError):  # not an address, or IPv6 in an IPv4-only database
        return {}
    return rec if isinstance(rec, Mapping) else {}


class GeoEnricher:
    """Country and ASN per address, cached (bounded LRU); databases open at construction."""

    def __init__(self, country_db: Path | None = None, asn_db: Path | None = None) -> None:
        self._country = _open(country_db, "country")
        self._asn = (
            self._country if asn_db is not None and asn_db == country_db else _open(asn_db, "ASN")
        )
        self._cached: Callable[[str], Geo] = lru_cache(maxsize=CACHE_SIZE)(self._lookup)

    @property
    def enabled(self) -> bool:
        return self._country is not None or self._asn is not None

    def lookup(self, ip: str) -> Geo:
        """Country, ASN and AS organisation of `ip` (None where a database or record is missing)."""
        return self._cached(ip) if self.enabled else NO_GEO

    def _lookup(self, ip: str) -> Geo:
        country = _country(_record(self._country, ip))
        asn, org = _asn(_record(self._asn, ip))
        return Geo(country, asn, org)

    def close(self) -> None:
        for reader in {id(r): r for r in (self._country, self._asn) if r is not None}.values():
            reader.close()
        self._country = self._asn = None
        self._cached = lru_cache(maxsize=CACHE_SIZE)(self._lookup)

    @classmethod
    def from_env(cls) -> GeoEnricher:
        """Databases named by MINEWATCH_GEOIP_COUNTRY / MINEWATCH_GEOIP_ASN (unset: none)."""
        country = os.environ.get(ENV_COUNTRY) or None
        asn = os.environ.get(ENV_ASN) or None
        return cls(Path(country) if country else None, Path(asn) if asn else None)
