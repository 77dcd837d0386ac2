"""The outbox worker: handler registry, runner (leases, delivery records, retries, dead letters), cron
schedules and the process loop. See ``docs/architecture.md`` ("Worker and jobs")."""

from carebase.core.worker.cron import CRON, CronRun, cron, emit_once
from carebase.core.worker.loop import CHANNEL, POLL_SECONDS, run_periodic, run_worker
from carebase.core.worker.registry import HANDLERS, PERIODIC, SPECS, Handler, handler, periodic, unregister
from carebase.core.worker.runner import MAX_ATTEMPTS, Runner, backoff, drain, run_batch

__all__ = [
    "CHANNEL", "CRON", "HANDLERS", "MAX_ATTEMPTS", "PERIODIC", "POLL_SECONDS", "SPECS", "CronRun", "Handler",
    "Runner", "backoff", "cron", "drain", "emit_once", "handler", "periodic", "run_batch", "run_periodic", "run_worker",
    "unregister",
]  # fmt: skip
