"""Parsers for the subscriber registry CSV and the RADIUS sessions CSV.

Pure: a text stream in, records out, every bad line a counted problem with its line number
(STYLE 10) — never an exception, except for a file that cannot be used at all (no header,
missing required columns), which raises `AttributionError` before anything is written.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from store.attribution_net import Net, parse_net
from store.subscribermodels import ACCOUNT_MAX, NAME_MAX, REGION_MAX

SECTORS: tuple[str, ...] = (
    "school",
    "state-owned-enterprise",
    "internet-cafe",
    "government",
    "enterprise",
    "residential",
    "other",
)

_SECTOR_ALIASES = {
    **{s: s for s in SECTORS},
    # English variants (after normalisation: casefolded, accents dropped, runs of space/_/- → -)
    "education": "school", "edu": "school", "university": "school", "college": "school",
    "soe": "state-owned-enterprise", "state-enterprise": "state-owned-enterprise",
    "stateowned-enterprise": "state-owned-enterprise", "state-owned": "state-owned-enterprise",
    "cafe": "internet-cafe", "internetcafe": "internet-cafe", "cybercafe": "internet-cafe",
    "cyber-cafe": "internet-cafe", "netbar": "internet-cafe", "net-bar": "internet-cafe",
    "gov": "government", "govt": "government", "public-sector": "government",
    "company": "enterprise", "business": "enterprise", "corporate": "enterprise",
    "home": "residential", "household": "residential", "broadband": "residential",
    "home-broadband": "residential", "consumer": "residential",
    # Chinese
    "学校": "school", "高校": "school", "大学": "school", "中小学": "school", "教育": "school",
    "国企": "state-owned-enterprise", "国有企业": "state-owned-enterprise",
    "央企": "state-owned-enterprise", "网吧": "internet-cafe", "网咖": "internet-cafe",
    "政府": "government", "政府机关": "government", "机关": "government",
    "企业": "enterprise", "公司": "enterprise", "私企": "enterprise",
    "住宅": "residential", "家庭宽带": "residential", "家庭": "residential",
    "家宽": "residential", "居民": "residential", "其他": "other", "其它": "other",
}  # fmt: skip

MAX_PROBLEMS = 1000  # problems kept with their text; `skipped` counts all of them


class AttributionError(ValueError):
    """A file that cannot be imported at all (nothing was written)."""


@dataclass
class ImportReport:
    """What an import did: data rows read, records imported, rows skipped and why."""

    source: str
    read: int = 0
    imported: int = 0
    skipped: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((line, reason))

    def line(self) -> str:
        return (
            f"{self.source}: {self.read} rows read, {self.imported} imported, "
            f"{self.skipped} skipped"
        )


def _fold(value: str) -> str:
    """NFKC + accents dropped + casefolded, runs of space/underscore/hyphen as one '-'."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().strip()
    return re.sub(r"[\s_\-]+", "-", text).strip("-")


def normalize_sector(value: str) -> str | None:
    """The canonical sector id for `value` (any listed alias), or None when unknown."""
    return _SECTOR_ALIASES.get(_fold(value))


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    line: int
    net: Net | None  # None: an account-only row (name, sector, region for session accounts)
    account: str
    name: str
    sector: str
    region: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    line: int
    net: Net
    start: datetime
    stop: datetime | None
    account: str


_REGISTRY_COLUMNS = {
    "network": ("network", "ip", "prefix", "cidr", "address", "subnet", "ip地址", "网段", "地址"),
    "account": ("account", "account-id", "customer-id", "user", "username", "账号", "用户账号"),
    "name": ("name", "customer", "customer-name", "subscriber", "名称", "单位名称", "用户名称"),
    "sector": ("sector", "category", "type", "行业", "类型", "用户类型"),
    "region": ("region", "area", "province", "city", "地区", "区域"),
}
SESSION_COLUMNS = {
    "ip": ("ip", "address", "framed-ip-address", "framed-ipv6-address", "framed-ipv6-prefix",
           "delegated-ipv6-prefix"),
    "start": ("start", "start-time", "acct-start-time", "acct-session-start", "session-start",
              "login-time"),
    "stop": ("stop", "stop-time", "end", "end-time", "acct-stop-time", "acct-session-stop",
             "session-stop", "logout-time"),
    "account": ("account", "user-name", "username", "user", "account-id"),
}  # fmt: skip
_BAD_TEXT = re.compile(r"[\udc80-\udcff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _rows(fh: Iterable[str], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with their line numbers; blank and '#' comment lines skipped, csv errors counted."""
    reader = csv.reader(fh)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.problem(reader.line_num, f"CSV error: {exc}")
            continue
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        yield reader.line_num, row


def read_header(
    rows: Iterator[tuple[int, list[str]]], spec: dict[str, tuple[str, ...]], required: set[str]
) -> dict[str, list[int]]:
    """Column positions per field from the header row (a field may have several columns)."""
    first = next(rows, None)
    if first is None:
        raise AttributionError("no header row (the file is empty)")
    folded = [_fold(c) for c in first[1]]
    cols = {f: [i for i, c in enumerate(folded) if c in names] for f, names in spec.items()}
    missing = sorted(f for f in required if not cols[f])
    if missing:
        raise AttributionError(
            f"line {first[0]}: header lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(first[1])[:200]})"
        )
    return cols


def first_cell(row: list[str], cols: list[int]) -> str:
    """The first non-blank value of `row` among columns `cols` (stripped; '' if none)."""
    for i in cols:
        if i < len(row) and row[i].strip():
            return row[i].strip()
    return ""


def checked_text(value: str, what: str, limit: int) -> str:
    if _BAD_TEXT.search(value):
        raise ValueError(f"{what} is not valid UTF-8 text or holds control characters")
    if len(value) > limit:
        raise ValueError(f"{what} longer than {limit} characters")
    return value


def parse_registry(fh: Iterable[str], report: ImportReport) -> Iterator[RegistryRecord]:
    """Registry records; a network (or an account-only row's account) listed twice is a
    problem on the later line."""
    rows = _rows(fh, report)
    cols = read_header(rows, _REGISTRY_COLUMNS, {"network", "account", "sector"})
    seen: dict[str, int] = {}
    for line, row in rows:
        report.read += 1
        try:
            network = first_cell(row, cols["network"])
            net = parse_net(network) if network else None
            account = checked_text(first_cell(row, cols["account"]), "account", ACCOUNT_MAX)
            if not account:
                raise ValueError("missing account")
            raw_sector = first_cell(row, cols["sector"])
            sector = normalize_sector(raw_sector)
            if sector is None:
                raise ValueError(
                    f"unknown sector {raw_sector[:40]!r} (known: {', '.join(SECTORS)})"
                )
            name = checked_text(first_cell(row, cols["name"]), "name", NAME_MAX)
            region = checked_text(first_cell(row, cols["region"]), "region", REGION_MAX)
            what = f"network {net.text}" if net else f"account-only row for {account}"
            if what in seen:
                raise ValueError(f"duplicate {what} (first on line {seen[what]})")
        except ValueError as exc:
            report.problem(line, str(exc))
            continue
        seen[what] = line
        yield RegistryRecord(line, net, account, name, sector, region)


_UNIX = re.compile(r"\d{1,12}(\.\d{1,9})?")


def parse_time(value: str, tz: tzinfo = UTC) -> datetime:
    """Unix seconds or ISO 8601 (a time without zone is in `tz`), as an aware UTC datetime."""
    value = value.strip()
    if _UNIX.fullmatch(value):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"time out of range: {value[:40]!r}") from exc
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"bad time {value[:40]!r} (want ISO 8601 or unix seconds)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"time out of range: {value[:40]!r}") from exc


def parse_sessions(
    fh: Iterable[str], report: ImportReport, tz: tzinfo = UTC
) -> Iterator[SessionRecord]:
    """Session records: one per non-empty address/prefix column of a row."""
    rows = _rows(fh, report)
    cols = read_header(rows, SESSION_COLUMNS, {"ip", "start", "account"})
    for line, row in rows:
        report.read += 1
        try:
            ips = [row[i].strip() for i in cols["ip"] if i < len(row) and row[i].strip()]
            if not ips:
                raise ValueError("missing ip")
            nets = [parse_net(ip) for ip in ips]
            start_text = first_cell(row, cols["start"])
            if not start_text:
                raise ValueError("missing start")
            start = parse_time(start_text, tz)
            stop_text = first_cell(row, cols["stop"])
            stop = parse_time(stop_text, tz) if stop_text else None
            if stop is not None and stop < start:
                raise ValueError(f"stop {stop_text[:40]!r} is before start {start_text[:40]!r}")
            account = checked_text(first_cell(row, cols["account"]), "account", ACCOUNT_MAX)
            if not account:
                raise ValueError("missing account")
        except ValueError as exc:
            report.problem(line, str(exc))
            continue
        for net in nets:
            yield SessionRecord(line, net, start, stop, account)
