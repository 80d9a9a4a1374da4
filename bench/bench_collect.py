"""Benchmark live flow collection: `minewatch collect` against nfcapd, NetFlow v5 on loopback.

    .venv/bin/python bench/bench_collect.py [--rates 0.5 1 2 3.8 5.5] [--seconds 3] [--runs 3]
                                            [--senders 1]

NetFlow v5 datagrams of 30 records (1,464 bytes, built as in bench_netflow.py) are offered at
fixed rates in M records/s by a small C sender compiled here with gcc (`sendmmsg`, bursts of at
most 64, paced on the clock; each sender process is its own exporter, 127.0.0.1x, with its own
sequence numbers), first to `minewatch collect --no-store --quiet --metrics ...`, then to
`nfcapd -b 127.0.0.1 -p PORT -w DIR -t 3600`, one receiver at a time so they never share the
CPUs. The sender reports what it really sent: the achieved rate is printed beside the offered
one.

Counted, for minewatch from its metrics once its decoding has caught up: records decoded
(`minewatch_records_decoded_total`), datagrams received, the kernel's drops on its socket
(`minewatch_datagrams_dropped_total`), how often every receive buffer was still being decoded
(`minewatch_receiver_buffer_waits_total`: the decoding loop, not the receive thread, was
behind) and how long after the sender stopped its backlog took to decode; for nfcapd the
statistics line it prints at exit (`Flows: N`, the records in its file) and the kernel's drops
on its socket (/proc/net/udp). Received records/s = records received / the sender's send time;
loss = 1 - received / sent. Each figure is the best of --runs; one minewatch process serves
every run (warmed up first), nfcapd is started for each run and its file deleted after counting.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench_netflow import v5_datagrams

RECORDS = 30  # per NetFlow v5 datagram
DATAGRAM = 24 + RECORDS * 48
POOL = 1024  # distinct datagrams the sender cycles through

SENDER_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* sender DST_PORT SRC_ADDR RATE SECONDS START SIZE FILE: send FILE's SIZE-byte NetFlow v5
   datagrams round robin at RATE datagrams/s for SECONDS from START (epoch seconds), the
   flow_sequence field rewritten (+30 per datagram); prints "sent seconds errors". */
#define BURST 64
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: sender PORT SRC RATE SECONDS START SIZE FILE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double rate = atof(argv[3]), secs = atof(argv[4]), start = atof(argv[5]);
    size_t size = (size_t)atol(argv[6]);
    FILE *fh = fopen(argv[7], "rb");
    if (!fh) { perror("open"); return 1; }
    fseek(fh, 0, SEEK_END);
    size_t total = (size_t)ftell(fh), n = total / size;
    fseek(fh, 0, SEEK_SET);
    char *pool = malloc(total);
    if (!pool || fread(pool, 1, total, fh) != total || n < BURST) {
        fprintf(stderr, "bad file\n");
        return 1;
    }
    fclose(fh);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0}, d = {0};
    a.sin_family = d.sin_family = AF_INET;
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    d.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || connect(fd, (struct sockaddr *)&d, sizeof d)) {
        perror("bind/connect"); return 1;
    }
    struct mmsghdr msgs[BURST];
    struct iovec iov[BURST];
    memset(msgs, 0, sizeof msgs);
    while (now() < start) usleep(100);
    double t0 = now(), t;
    uint64_t sent = 0, errors = 0;
    uint32_t seq = 0;
    size_t at = 0;
    while ((t = now() - t0) < secs) {
        uint64_t due = (uint64_t)(t * rate);
        if (due <= sent) {
            double wait = (double)(sent + 1) / rate - t;
            if (wait > 100e-6) {
                struct timespec w = {0, (long)((wait - 50e-6) * 1e9)};
                nanosleep(&w, NULL);
            }
            continue;
        }
        unsigned k = due - sent < BURST ? (unsigned)(due - sent) : BURST;
        for (unsigned i = 0; i < k; i++) {
            char *dg = pool + ((at + i) % n) * size;
            uint32_t be = htonl(seq + 30u * i);
            memcpy(dg + 16, &be, 4);
            iov[i].iov_base = dg;
            iov[i].iov_len = size;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(fd, msgs, k, 0);
        if (r < 0) {
            errors++;
            if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
                perror("sendmmsg");
                return 1;
            }
            continue;
        }
        sent += (uint64_t)r;
        seq += 30u * (uint32_t)r;
        at = (at + (size_t)r) % n;
    }
    printf("%llu %.6f %llu\n", (unsigned long long)sent, now() - t0, (unsigned long long)errors);
    return 0;
}
"""


@dataclass
class Sent:
    datagrams: int
    seconds: float
    errors: int

    @property
    def records(self) -> int:
        return self.datagrams * RECORDS

    @property
    def rate(self) -> float:
        return self.records / self.seconds


@dataclass
class Received:
    records: int
    datagrams: int
    kernel_drops: int
    buffer_waits: int = 0  # minewatch: times every receive buffer was still being decoded
    drain: float = 0.0  # seconds after the sender stopped until the counts stopped growing


@dataclass
class Figure:
    offered: float
    sent: Sent
    got: Received

    @property
    def rate(self) -> float:
        return self.got.records / self.sent.seconds

    @property
    def loss(self) -> float:
        return max(0.0, 1.0 - self.got.records / self.sent.records) if self.sent.records else 0.0


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sender:
    """`senders` C processes offering `rate` records/s between them to one port."""

    def __init__(self, work: Path, senders: int) -> None:
        self.exe = work / "sender"
        src = work / "sender.c"
        src.write_text(SENDER_C)
        subprocess.run(["gcc", "-O2", "-o", str(self.exe), str(src)], check=True)
        self.data = work / "v5.bin"
        dgs = v5_datagrams(POOL, random.Random(1))
        assert {len(d) for d in dgs} == {DATAGRAM}
        self.data.write_bytes(b"".join(dgs))
        self.senders = senders

    def offer(self, port: int, records_per_s: float, seconds: float) -> Sent:
        per = records_per_s / RECORDS / self.senders
        start = time.time() + 0.2
        args = [str(port), f"{per:.3f}", str(seconds), f"{start:.6f}", str(DATAGRAM)]
        procs = []
        for i in range(self.senders):
            argv = [str(self.exe), args[0], f"127.0.0.{10 + i}", *args[1:], str(self.data)]
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=seconds + 30)
            if p.returncode != 0:
                raise RuntimeError(f"sender failed ({p.returncode})")
            outs.append(out.split())
        return Sent(
            sum(int(o[0]) for o in outs),
            max(float(o[1]) for o in outs),
            sum(int(o[2]) for o in outs),
        )


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(minewatch_\w+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Minewatch:
    """One `minewatch collect` process for every run; counts are deltas between runs."""

    def __init__(self, work: Path) -> None:
        self.port, self.metrics_port = free_port(), free_port(socket.SOCK_STREAM)
        self.err = work / "collect.err"
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "minewatch", "collect",
                 "--listen", f"netflow://127.0.0.1:{self.port}", "--no-store", "--quiet",
                 "--metrics", f"127.0.0.1:{self.metrics_port}", "--flush", "60",
                 "--db", f"sqlite:///{work / 'absent.db'}", "--state", str(work / "state.json")],
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while b"listening" not in self.err.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"minewatch collect did not start: {self.err.read_text()}")
            time.sleep(0.1)

    def counts(self) -> Received:
        m = _metrics(self.metrics_port)

        def total(prefix: str) -> int:
            return int(sum(v for k, v in m.items() if k.startswith(prefix)))

        return Received(
            total("minewatch_records_decoded_total"),
            total("minewatch_datagrams_received_total"),
            total("minewatch_datagrams_dropped_total"),
            total("minewatch_receiver_buffer_waits_total"),
        )

    def settle(self, quiet: float = 0.6, limit: float = 120.0) -> tuple[Received, float]:
        """Counts once the decoded records stopped growing, and how long that took."""
        t0 = time.monotonic()
        last = self.counts()
        since = t0
        while time.monotonic() - t0 < limit:
            time.sleep(0.1)
            now = self.counts()
            if now.records != last.records or now.datagrams != last.datagrams:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last, since - t0

    def run(self, sender: Sender, rate: float, seconds: float) -> tuple[Sent, Received]:
        before, _ = self.settle()
        sent = sender.offer(self.port, rate, seconds)
        after, drain = self.settle()
        return sent, Received(
            after.records - before.records,
            after.datagrams - before.datagrams,
            after.kernel_drops - before.kernel_drops,
            after.buffer_waits - before.buffer_waits,
            drain,
        )

    def rcvbuf(self) -> int:
        return _rcvbuf(self.port)

    def peak_rss_mb(self) -> float:
        """The collector's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _udp_drops(port: int) -> int:
    """Kernel drops of the UDP socket bound to 127.0.0.1:port (/proc/net/udp)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as fh:
        next(fh)
        for line in fh:
            cols = line.split()
            if cols[1] == local:
                return int(cols[-1])
    return 0


def _rcvbuf(port: int) -> int:
    """The socket's receive buffer limit (`ss -m`: skmem rb), 0 if unknown."""
    ss = shutil.which("ss")
    if ss is None:
        return 0
    out = subprocess.run([ss, "-u", "-l", "-n", "-m", f"sport = :{port}"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    m = re.search(r"\brb(\d+)", out)
    return int(m.group(1)) if m else 0


def nfcapd_run(
    nfcapd: str, work: Path, sender: Sender, rate: float, seconds: float
) -> tuple[Sent, Received, int]:
    """A fresh nfcapd for one run: offer, let it catch up, stop it (it prints its statistics
    and closes its file), count; its files are deleted. Returns also its receive buffer."""
    flowdir = work / "nfcapd"
    shutil.rmtree(flowdir, ignore_errors=True)
    flowdir.mkdir()
    log = work / "nfcapd.log"
    port = free_port()
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", str(flowdir), "-t", "3600"],
            stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while b"Startup" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nfcapd did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        rcvbuf = _rcvbuf(port)
        sent = sender.offer(port, rate, seconds)
        time.sleep(1.0)  # what is in its socket buffer is read meanwhile
        drops = _udp_drops(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    text = log.read_text(errors="replace")
    m = re.search(r"Flows: (\d+)", text)
    if m is None:
        raise RuntimeError(f"no statistics line from nfcapd: {text[-500:]}")
    flows = int(m.group(1))
    shutil.rmtree(flowdir, ignore_errors=True)
    return sent, Received(flows, flows // RECORDS, drops), rcvbuf


def best(figures: list[Figure]) -> Figure:
    return max(figures, key=lambda f: f.got.records / max(f.sent.records, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.8, 5.5],
                    help="offered rates, M records/s")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=3.0, help="send time per run")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (best is printed)")
    ap.add_argument("--senders", type=int, default=1, help="sender processes")
    args = ap.parse_args()
    nfcapd, gcc = shutil.which("nfcapd"), shutil.which("gcc")
    if nfcapd is None or gcc is None:
        missing = " ".join(n for n, p in (("nfdump", nfcapd), ("gcc", gcc)) if p is None)
        print(f"bench_collect skipped: needs the Debian packages {missing}")
        return
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        work = Path(tmp)
        sender = Sender(work, args.senders)
        t = time.perf_counter()
        mw = Minewatch(work)
        print(f"minewatch collect start-up: {time.perf_counter() - t:.1f} s; receive buffer "
              f"{mw.rcvbuf() / 2**20:.0f} MiB; {os.cpu_count()} CPUs, {args.senders} C "
              f"sender(s), {RECORDS} records per {DATAGRAM}-byte datagram, "
              f"{args.seconds:g} s per run, best of {args.runs}")  # fmt: skip
        try:
            mw.run(sender, 0.2e6, 1.0)  # warm-up: decoder kernels, exporter state
            nf_buf = 0
            for rate_m in args.rates:
                rate = rate_m * 1e6
                ours, theirs = [], []
                for _ in range(args.runs):
                    ours.append(Figure(rate, *mw.run(sender, rate, args.seconds)))
                    sent, got, nf_buf = nfcapd_run(nfcapd, work, sender, rate, args.seconds)
                    theirs.append(Figure(rate, sent, got))
                a, b = best(ours), best(theirs)
                undecoded = a.got.datagrams * RECORDS - a.got.records
                print(f"offered {rate_m:.1f} M records/s: minewatch collect: sender achieved "
                      f"{a.sent.rate / 1e6:.2f} M/s, received {a.rate / 1e6:.2f} M records/s "
                      f"({a.got.datagrams:,} of {a.sent.datagrams:,} datagrams), loss "
                      f"{a.loss:.2%} (kernel drops {a.got.kernel_drops:,} datagrams; every receive "
                      f"buffer busy {a.got.buffer_waits:,} times; backlog "
                      f"decoded {a.got.drain:.1f} s after the sender stopped"
                      + (f"; {undecoded:,} received records NOT decoded" if undecoded else "")
                      + ")")  # fmt: skip
                print(f"offered {rate_m:.1f} M records/s: nfcapd: sender achieved "
                      f"{b.sent.rate / 1e6:.2f} M/s, received {b.rate / 1e6:.2f} M records/s "
                      f"({b.got.records:,} of {b.sent.records:,} records), loss {b.loss:.2%} "
                      f"(kernel drops {b.got.kernel_drops:,} datagrams)")  # fmt: skip
                ratio = a.rate / b.rate if b.rate else float("inf")
                print(f"offered {rate_m:.1f} M records/s: minewatch/nfcapd received ratio "
                      f"{ratio:.2f}")  # fmt: skip
            print(f"nfcapd receive buffer {nf_buf / 2**10:.0f} KiB (its default; "
                  "net.core.rmem_max caps what it may ask for)")  # fmt: skip
            print(f"minewatch collect peak RSS {mw.peak_rss_mb():.0f} MB")
        finally:
            mw.stop()
    print(f"bench_collect total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
