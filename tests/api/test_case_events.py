"""A case moved through the API is announced to the configured webhook (`case.status`, with
the previous status and the actor), signed; the receiver is a real HTTP server on loopback."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import start_live
from tests.flowexport.exporters import free_tcp_port
from tests.hooks import HookServer

SECRET = "hook-secret-for-tests"


def test_patch_sends_case_status_event(tmp_path: Path) -> None:
    with HookServer(SECRET) as hook:
        live_iter = start_live(f"sqlite:///{tmp_path / 'e.db'}", tmp_path,
                               event_targets=[hook.url], webhook_secret=SECRET)  # fmt: skip
        live = next(live_iter)
        try:
            with live.client("analyst") as c:
                case_id = c.get("/v1/cases").json()["items"][0]["id"]
                assert c.patch(f"/v1/cases/{case_id}", json={"status": "verifying",
                               "note": "calling the school"}).status_code == 200  # fmt: skip
                assert c.patch(f"/v1/cases/{case_id}",
                               json={"status": "blocked"}).status_code == 409  # fmt: skip
            hook.wait(1)
        finally:
            live_iter.close()
    assert not hook.bad
    assert [(e["type"], e["data"]["id"], e["data"]["status"], e["data"]["previous"],
             e["data"]["actor"]) for e in hook.events] == [
        ("case.status", case_id, "verifying", "new", "analyst-tester")]  # fmt: skip


def _event_samples(text: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("minewatch_event") and not s.name.endswith("_created"):
                out[(s.name, *(f"{k}={v}" for k, v in sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_deliveries_per_target(tmp_path: Path) -> None:
    """/metrics says what reached each target and what failed (a receiver that is down),
    labelled by transport and position, never by URL (it may carry credentials)."""
    dead = f"http://user:pw@127.0.0.1:{free_tcp_port()}/hook"  # nothing listens there
    with HookServer(SECRET) as hook:
        live_iter = start_live(f"sqlite:///{tmp_path / 'm.db'}", tmp_path,
                               event_targets=[hook.url, dead], webhook_secret=SECRET)  # fmt: skip
        live = next(live_iter)
        try:
            with live.client("analyst") as c:
                case_id = c.get("/v1/cases").json()["items"][0]["id"]
                assert c.patch(f"/v1/cases/{case_id}", json={"status": "verifying"}).is_success
                hook.wait(1)
                deadline, samples = time.monotonic() + 15, {}
                while time.monotonic() < deadline:  # the dead target retries 3 times first
                    text = c.get("/v1/metrics").text
                    samples = _event_samples(text)
                    key = ("minewatch_events_total", "index=1", "outcome=failed", "target=webhook")
                    if samples.get(key) == 1:
                        break
                    time.sleep(0.2)
        finally:
            live_iter.close()
    assert "pw@" not in text and str(hook.url) not in text
    assert samples == {
        ("minewatch_events_total", "index=0", f"outcome={o}", "target=webhook"): v
        for o, v in (("queued", 1), ("sent", 1), ("failed", 0), ("dropped", 0))
    } | {
        ("minewatch_events_total", "index=1", f"outcome={o}", "target=webhook"): v
        for o, v in (("queued", 1), ("sent", 0), ("failed", 1), ("dropped", 0))
    } | {
        ("minewatch_event_retries_total", "index=0", "target=webhook"): 0,
        ("minewatch_event_retries_total", "index=1", "target=webhook"): 3,
        ("minewatch_event_queue", "index=0", "target=webhook"): 0,
        ("minewatch_event_queue", "index=1", "target=webhook"): 0,
    }
