"""Run the live worker: `python manage.py live_worker`.

It holds the model and detector for live sessions (browser cameras, stream URLs) and photo scoring,
and talks to the web processes through the channel layer, which must reach across processes: set
REDIS_URL (the in-memory layer of the embedded defaults cannot; there the ASGI server runs the
worker itself). Run one live worker per channel layer. Ctrl-C (or SIGTERM) stores what it holds;
open sessions continue when a worker runs again.
"""
from __future__ import annotations

import asyncio
import os
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the live worker (live sessions and photo scoring); needs the Redis channel layer."

    def handle(self, *args, **options):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        if "InMemory" in backend:
            raise CommandError("The channel layer is in-memory (REDIS_URL is not set), so no other process can "
                               "reach this worker. Set REDIS_URL, or let the ASGI server run the embedded worker.")
        from live.worker.service import LiveWorker

        worker = LiveWorker()

        async def main():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, worker.stop)
            self.stderr.write(f"Live worker running on {backend.rsplit('.', 1)[-1]}; Ctrl-C stops it.")
            await worker.run()

        asyncio.run(main())
        self.stderr.write("Live worker stopped.")
