"""A real uvicorn serving an app on a free loopback port, in a thread (API and block-list
tests)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """`with ServerThread(app) as base:` — base is `http://127.0.0.1:PORT`; the port is read back
    from the bound socket, so parallel tests never collide."""

    def __init__(self, app: Any, **config: Any) -> None:
        cfg = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **config)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
