"""`minewatch scan --workers N`: one parent reading captures, N worker processes detecting.

```
parent: file ──chunks──▶ walker ──▶ decoder ──▶ shard per packet ──▶ shared-memory ring slot
                                                                        │ ("chunk", slot, now)
workers 0..N-1: own packets of the chunk ──▶ FlowStage (flow table ▶ engine) ──▶ hits, learned
parent: hits ──▶ sinks (printer, store) · learned endpoints/pairs ──▶ the other workers
```

- `procs`: how worker processes start (fork server or spawn), `WorkerError`;
- `knowledge`: what workers learn and share, and the guarantee on when the others know it;
- `ring`: the shared-memory slots that carry chunks to the workers;
- `worker`: `FlowWorker` (also run by live-capture workers) and the scan worker process;
- `scanner`: `ParallelScanner`, the parent: sharding, files, failures.
"""

from pipelines.parallel.knowledge import Knowledge, SharedLearned, SharedPairs, merge_detect_stats
from pipelines.parallel.procs import StartMethod, WorkerError, default_workers, mp_context, prestart
from pipelines.parallel.ring import DEFAULT_RING, Layout
from pipelines.parallel.scanner import STALL_TIMEOUT, ParallelScanner
from pipelines.parallel.worker import (
    ST_OTHER_SHARD,
    UID_SHIFT,
    FlowWorker,
    Outbox,
    warm_up,
    worker_main,
)

__all__ = [
    "DEFAULT_RING",
    "STALL_TIMEOUT",
    "ST_OTHER_SHARD",
    "UID_SHIFT",
    "FlowWorker",
    "Knowledge",
    "Layout",
    "Outbox",
    "ParallelScanner",
    "SharedLearned",
    "SharedPairs",
    "StartMethod",
    "WorkerError",
    "default_workers",
    "merge_detect_stats",
    "mp_context",
    "prestart",
    "warm_up",
    "worker_main",
]
