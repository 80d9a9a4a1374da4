"""A case moved through the API is announced to the configured webhook (`case.status`, with
the previous status and the actor), signed; the receiver is a real HTTP server on loopback."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import start_live
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
