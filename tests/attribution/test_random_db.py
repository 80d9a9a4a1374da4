"""Random registries and sessions through CSV, the database and `Attributor`, checked against a
brute-force reading of the documented rules (times at microsecond precision, both families)."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

from store.attribution import Attributor, import_registry, import_sessions

from .conftest import Database

BASE = datetime(2024, 5, 1, tzinfo=UTC)


def test_attributor_matches_brute_force(db: Database, write) -> None:
    rnd = random.Random(5)
    nets: dict[str, ipaddress._BaseNetwork] = {}
    while len(nets) < 150:
        if rnd.random() < 0.7:
            plen = rnd.randint(20, 32)
            addr = (10 << 24) | rnd.getrandbits(12)
            n: ipaddress._BaseNetwork = ipaddress.IPv4Network(
                (addr >> (32 - plen) << (32 - plen), plen)
            )
        else:
            plen = rnd.randint(36, 64)
            addr = (0x2001_0DB8 << 96) | (rnd.getrandbits(8) << 88)
            n = ipaddress.IPv6Network((addr >> (128 - plen) << (128 - plen), plen))
        nets[str(n)] = n
    reg = [(n, f"R{i}") for i, n in enumerate(nets.values())]
    import_registry(
        db.engine,
        write("r.csv", "network,account,sector\n" + "".join(f"{n},{a},other\n" for n, a in reg)),
    )
    hosts = [f"10.0.{rnd.randint(0, 15)}.{rnd.randint(0, 255)}" for _ in range(40)]
    sessions = []
    for i in range(400):
        ip = rnd.choice(hosts)
        start = BASE + timedelta(microseconds=rnd.randint(0, 10**7))
        stop = None if rnd.random() < 0.2 else start + timedelta(microseconds=rnd.randint(0, 10**6))
        sessions.append((ip, start, stop, f"S{i}"))
    csv_text = "ip,start,stop,account\n" + "".join(
        f"{ip},{s.isoformat()},{'' if e is None else e.isoformat()},{a}\n"
        for ip, s, e, a in sessions
    )
    assert import_sessions(db.engine, write("s.csv", csv_text)).skipped == 0
    att = Attributor.load(db.engine)

    def end(i: int) -> datetime | None:
        """A session without a stop ends where the next session on its address begins."""
        ip, start, stop, _ = sessions[i]
        if stop is not None:
            return stop
        later = [s for j, (sip, s, _e, _a) in enumerate(sessions)
                 if sip == ip and (s, j) > (start, i)]  # fmt: skip
        return min(later) if later else None

    def expect(ip: str, t: datetime) -> str | None:
        covering = [
            (s, i) for i, (sip, s, _e, _a) in enumerate(sessions)
            if sip == ip and s <= t and ((e := end(i)) is None or t < e)
        ]  # fmt: skip
        if covering:
            return sessions[max(covering)[1]][3]
        addr = ipaddress.ip_address(ip)
        holding = [(n.prefixlen, a) for n, a in reg if addr.version == n.version and addr in n]
        return max(holding)[1] if holding else None

    probes = [
        (ip, BASE + timedelta(microseconds=rnd.randint(-10, 11 * 10**6))) for ip in hosts * 25
    ]
    probes += [
        (
            str(ipaddress.ip_address(int(n.network_address) + rnd.randint(0, n.num_addresses - 1))),
            BASE,
        )
        for n, _ in reg
    ]
    for ip, t in probes:
        sub = att.lookup(ip, t.timestamp())
        assert (sub.account if sub else None) == expect(ip, t), (ip, t)
