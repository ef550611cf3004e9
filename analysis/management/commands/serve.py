"""Run the production layout in one command: the ASGI server (daphne: HTTP and the live pages'
WebSockets), a Celery worker, Celery beat (periodic jobs) and, when the live worker is external, the live
worker. PostgreSQL, Redis and S3 come from the environment (DATABASE_URL, CELERY_BROKER_URL, REDIS_URL,
AWS_STORAGE_BUCKET_NAME…; see the README's Production section).

    DJANGO_SETTINGS_MODULE=emo7ion_site.settings.production python manage.py serve --host 0.0.0.0 --port 8000

Several web processes share one listening socket (`--web-processes`); that needs the Redis channel layer
(REDIS_URL), because the in-memory one reaches only within one process. Ctrl-C or SIGTERM stops everything
within `--grace` seconds (a running analysis segment is redelivered to the next worker: acks_late).
"""
from __future__ import annotations

import os
import shlex
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ..processes import ProcessExited, ProcessGroup, worker_queues


def services_in_use() -> str:
    """What the settings point at, so a person sees at once whether PostgreSQL, Redis and S3 are in use."""
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
    storage = "S3" if "s3" in settings.STORAGES["default"]["BACKEND"].lower() else "local files"
    return f"database: {database}, broker: {broker}, storage: {storage}"


def listening_socket(host: str, port: int) -> socket.socket:
    """One IPv4 socket that every web process accepts on (the kernel shares the connections out)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Command(BaseCommand):
    help = "Run the web server (ASGI), a Celery worker, beat and the live worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("EMO7ION_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("EMO7ION_PORT", "8000")))
        parser.add_argument("--web-processes", type=int, default=int(os.environ.get("EMO7ION_WEB_PROCESSES", "1")),
                            help="daphne processes sharing the port (more than 1 needs REDIS_URL)")
        parser.add_argument("--worker-concurrency", type=int,
                            default=int(os.environ.get("EMO7ION_WORKER_CONCURRENCY", "1")),
                            help="Celery worker processes (each loads the model once)")
        parser.add_argument("--no-worker", action="store_true", help="run the Celery worker elsewhere")
        parser.add_argument("--no-beat", action="store_true", help="run Celery beat elsewhere (or use cron)")
        parser.add_argument("--no-live-worker", action="store_true", help="run `manage.py live_worker` elsewhere")
        parser.add_argument("--grace", type=float, default=10.0,
                            help="seconds the processes get to stop before they are killed")
        parser.add_argument("--dry-run", action="store_true", help="print the commands, start nothing")

    def handle(self, *args, **opts):
        web_processes = max(1, opts["web_processes"])
        in_memory_layer = "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]
        if web_processes > 1 and in_memory_layer:
            raise CommandError("Several web processes need a channel layer they share: set REDIS_URL (the "
                               "in-memory layer reaches only within one process), or use --web-processes 1.")
        if opts["dry_run"]:
            for name, argv in self.plan(opts, web_processes, ["-b", opts["host"], "-p", str(opts["port"])]):
                self.stdout.write(f"{name}: {shlex.join(argv)}")
            return
        if ":" in opts["host"]:
            raise CommandError("Give an IPv4 address (e.g. 0.0.0.0) as --host; put an IPv6 proxy in front.")
        root = str(Path(settings.BASE_DIR))
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)}
        try:
            sock = listening_socket(opts["host"], opts["port"])
        except OSError as exc:
            raise CommandError(f"Cannot listen on {opts['host']}:{opts['port']}: {exc.strerror}.")
        plan = self.plan(opts, web_processes, ["--fd", str(sock.fileno())])
        with ProcessGroup(cwd=root, env=env, grace_s=opts["grace"], say=self.stderr.write) as group:
            for name, argv in plan:
                # Every process gets its stop signal first: the worker's warm shutdown (SIGTERM) finishes
                # its current task if it can within the grace period; an unfinished one is redelivered.
                group.start(name, argv, pass_fds=(sock.fileno(),) if name.startswith("web") else ())
            sock.close()  # the web processes hold it now
            self.stderr.write(f"Serving http://{opts['host']}:{opts['port']}/ with "
                              + ", ".join(c.name for c in group.children) + f" ({services_in_use()}); "
                              "Ctrl-C stops them.")
            try:
                group.wait()
            except ProcessExited as exc:
                raise CommandError(f"{exc}; stopping the others.")
            self.stderr.write("Stopping…")
        self.stderr.write("Stopped.")

    def plan(self, opts, web_processes: int, binding: list[str]) -> list[tuple[str, list[str]]]:
        """(name, argv) of every process to start; `binding` tells daphne where to listen."""
        py = sys.executable
        daphne = [py, "-m", "daphne", "--access-log", "-", *binding, "emo7ion_site.asgi:application"]
        plan = [(f"web {n + 1}" if web_processes > 1 else "web", daphne) for n in range(web_processes)]
        celery = [py, "-m", "celery", "-A", "emo7ion_site"]
        if not opts["no_worker"]:
            plan.append(("worker", [*celery, "worker", "-Q", ",".join(worker_queues()),
                                    "--concurrency", str(max(1, opts["worker_concurrency"])),
                                    "--without-gossip", "--without-mingle", "--loglevel", "INFO"]))
        if not opts["no_beat"]:
            schedule = Path(settings.VAR_DIR) / "celerybeat-schedule"
            plan.append(("beat", [*celery, "beat", "--schedule", str(schedule), "--loglevel", "INFO"]))
        if settings.EMO7ION_LIVE_WORKER == "external" and not opts["no_live_worker"]:
            plan.append(("live worker", [py, str(Path(settings.BASE_DIR) / "manage.py"), "live_worker"]))
        return plan
