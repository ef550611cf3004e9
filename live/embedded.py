"""The embedded live worker: with the in-memory channel layer (no REDIS_URL, e.g. `make demo`), the
layer reaches only within this server's process, so the server runs the live worker as a task on its
own event loop. The model still never loads here: it runs in a child process (inference.AnalyserProcess).

It starts with the first request the server answers (daphne has no start-up hook) and stops with
the process. With EMO7ION_LIVE_WORKER=external, `manage.py live_worker` runs it instead.
"""
from __future__ import annotations

import asyncio
import logging

from django.conf import settings

log = logging.getLogger(__name__)

_worker = None


def start_embedded_live_worker() -> None:
    """Start the worker on the running event loop (once per process)."""
    global _worker
    if _worker is not None:
        return
    from .inference import AnalyserProcess
    from .worker.service import LiveWorker

    _worker = LiveWorker(analyser=AnalyserProcess())
    task = asyncio.get_running_loop().create_task(_worker.run())
    task.add_done_callback(_report_end)
    log.info("Embedded live worker started (the model runs in a child process).")


def _report_end(task: asyncio.Task) -> None:
    global _worker
    _worker = None
    if not task.cancelled() and task.exception() is not None:
        log.error("The embedded live worker stopped: %r", task.exception())


def with_embedded_live_worker(application):
    """The ASGI application, starting the embedded live worker with its first request when configured."""
    if settings.EMO7ION_LIVE_WORKER != "embedded":
        return application

    async def app(scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            start_embedded_live_worker()
        return await application(scope, receive, send)

    return app
