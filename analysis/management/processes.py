"""Run the site's processes (web server, Celery worker and beat, live worker) as children of one command,
and stop them all, promptly, when it is stopped. Used by `manage.py serve` and `manage.py demo`.

Each child runs in its own session (process group): Ctrl-C in the terminal reaches only the parent, which
then stops the children itself, in a known way. A child gets its stop signal (e.g. SIGTERM: finish what
you are doing), and whatever is still running when the grace period ends is killed with its whole process
group, grandchildren included (the web server's live-analysis process, Celery's pool processes). So the
command is gone within the grace period and a second or so, whatever a child does with its signals.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from django.conf import settings


def worker_queues() -> list[str]:
    """Every queue a task is routed to, and the default one: the worker consumes them all."""
    routed = {route["queue"] for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values() if "queue" in route}
    return sorted(routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


class ProcessExited(Exception):
    """A child stopped by itself; the others were stopped with it."""

    def __init__(self, name: str, returncode: int):
        super().__init__(f"{name} stopped (exit code {returncode})")
        self.name, self.returncode = name, returncode


@dataclass
class Child:
    name: str
    argv: list[str]
    stop_signal: int = signal.SIGTERM
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)  # its own group: the pid is the group id
        except ProcessLookupError:
            pass


class ProcessGroup:
    """Children started with `start`, watched by `wait`, stopped by `stop` (also on leaving `with`)."""

    def __init__(self, *, cwd: str, env: dict[str, str], grace_s: float = 3.0, say: Callable[[str], None] = print):
        self.cwd, self.env, self.grace_s, self.say = cwd, env, grace_s, say
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], *, stop_signal: int = signal.SIGTERM,
              pass_fds: tuple[int, ...] = ()) -> Child:
        child = Child(name=name, argv=argv, stop_signal=stop_signal, pass_fds=pass_fds)
        child.process = subprocess.Popen(argv, cwd=self.cwd, env=self.env, start_new_session=True,
                                         pass_fds=pass_fds)
        self.children.append(child)
        return child

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self, poll_s: float = 0.3) -> None:
        """Until SIGINT or SIGTERM reaches this process (returns), or a child exits (ProcessExited)."""
        stopping = []

        def on_signal(signum, frame):
            stopping.append(signum)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping:
                for child in self.children:
                    if not child.running:
                        raise ProcessExited(child.name, child.process.returncode)
                time.sleep(poll_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop signal to each child; after the grace period, SIGKILL to what is left (whole groups)."""
        for child in self.children:
            if child.running:
                child.signal_group(child.stop_signal)
        deadline = time.monotonic() + self.grace_s
        while any(child.running for child in self.children) and time.monotonic() < deadline:
            time.sleep(0.05)
        for child in self.children:
            if child.running:
                self.say(f"{child.name} did not stop within {self.grace_s:g} s; killing it.")
            # Also the group of a child that did stop: its own children may have outlived it.
            child.signal_group(signal.SIGKILL)
        for child in self.children:
            if child.process is not None:
                child.process.wait()
