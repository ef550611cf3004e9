"""Prepare a demo and (unless --no-serve) run it: the site (ASGI, with live analysis) on HOST:PORT and a Celery worker.

    python manage.py demo [--no-serve] [--json] [--host 127.0.0.1] [--port 8000]

Safe to run again and again: it migrates, registers the shipped default model, makes (or
refreshes) the demo organisation and user, builds the demo footage from face photos bundled in
scikit-image (analysis/demo_footage.py: nothing to download, no ../shared), uploads it through
the same services as the site and analyses it in this process, reusing what an earlier run made.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ..processes import ProcessExited, ProcessGroup, worker_queues

DEMO_USERNAME = "demo"
DEMO_ADMIN_USERNAME = "demo-admin"
DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo organisation"
DEMO_PROJECT_NAME = "Demo: a crowd of faces"
DEMO_FOOTAGE_NAME = "emo7ion-demo-crowd.mp4"


def demo_password() -> str:
    # A fixed, printed password: this is a local demonstration account, never a production one.
    return os.environ.get("EMO7ION_DEMO_PASSWORD", "emo7ion-demo")


def demo_admin_password() -> str:
    return os.environ.get("EMO7ION_DEMO_ADMIN_PASSWORD", "emo7ion-demo-admin")


def demo_platform_admin():
    """A platform administrator (staff, superuser) for the ML pages (/ml/: datasets, training, model
    versions, audits) and the admin site, which organisation members cannot open. Local demo only."""
    admin, _ = get_user_model().objects.get_or_create(
        username=DEMO_ADMIN_USERNAME, defaults={"email": "demo-admin@emo7ion.local", "first_name": "Platform"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password(demo_admin_password())
    admin.save()
    return admin


class Command(BaseCommand):
    help = "Set up the demo organisation, user and analysed footage; then serve the site and a worker."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")
        parser.add_argument("--json", action="store_true",
                            help='print {"username", "password", "project_url", "analysis_url"} on stdout')
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **opts):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.as_json = opts["json"]
        self._say("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)

        from ml.registry import ensure_default_model, shipped_default_path
        model_version = ensure_default_model()
        if model_version is None:
            raise CommandError(
                f"The default emotion model is not installed: {shipped_default_path()} (and its .json metadata) "
                "is missing, and no model version is registered. Reproduce it with the training command in the "
                "README ('The emotion model'), or point EMO7ION_DEFAULT_MODEL at a .keras file with its metadata, "
                "then run `make demo` again.")
        self._say(f"Emotion model: {model_version.name}")

        user, organisation, project = self._accounts()
        demo_platform_admin()
        footage = self._footage(project, user)
        analysis = self._analysis(footage, user, model_version)

        base = f"http://{opts['host']}:{opts['port']}"
        out = {"username": DEMO_USERNAME, "password": demo_password(),
               "project_url": f"{base}/projects/{project.pk}/", "analysis_url": f"{base}/analyses/{analysis.pk}/"}
        if self.as_json:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"\nDemo ready. Sign in at {base}/accounts/login/ as {out['username']} / {out['password']}\n"
                f"  project:  {out['project_url']}\n  analysis: {out['analysis_url']}\n"
                f"Platform admin (ML pages {base}/ml/ and {base}/admin/): "
                f"{DEMO_ADMIN_USERNAME} / {demo_admin_password()}\n"))
        if not opts["no_serve"]:
            self._serve(opts["host"], opts["port"])

    def _say(self, message: str) -> None:
        # Progress goes to stderr, so --json leaves stdout to the one JSON object.
        self.stderr.write(message)

    @transaction.atomic
    def _accounts(self):
        from accounts.models import Membership, Organisation, Role
        from analysis.models import Project

        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@emo7ion.local", "first_name": "Demo"})
        user.set_password(demo_password())  # always the printed one, even if someone changed it
        user.save()
        organisation = Organisation.objects.filter(slug=DEMO_ORG_SLUG).first() or \
            Organisation.objects.create(name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG)
        Membership.objects.update_or_create(user=user, organisation=organisation, defaults={"role": Role.OWNER})
        project, _ = Project.objects.get_or_create(
            organisation=organisation, name=DEMO_PROJECT_NAME,
            defaults={"created_by": user, "description": "Faces from the LFW subset bundled with scikit-image, "
                                                          "panned across like a crowd. Built by manage.py demo."})
        return user, organisation, project

    def _footage(self, project, user):
        from analysis import services
        from analysis.demo_footage import build_demo_footage
        from ml.engine.classifier import sha256_of

        path = build_demo_footage(Path(settings.VAR_DIR) / "demo" / DEMO_FOOTAGE_NAME)
        digest = sha256_of(path)
        existing = project.footage.filter(sha256=digest, status="ready").exclude(file="").first()
        if existing is not None and existing.file_deleted_at is None:
            return existing
        self._say(f"Uploading the demo footage {path.name}…")
        with open(path, "rb") as fh:
            footage = services.footage_create_from_upload(project=project, uploaded_file=File(fh, name=path.name),
                                                          uploaded_by=user)
        if footage.status != "ready":
            raise CommandError(f"The demo footage was rejected: {footage.rejection_reason}")
        return footage

    def _analysis(self, footage, user, model_version):
        from analysis import services

        done = footage.analyses.filter(status="succeeded", model_version=model_version).order_by("-created_at").first()
        if done is not None:
            self._say(f"The demo footage is already analysed (analysis {done.pk}).")
            return done
        self._say("Analysing the demo footage (in this process)…")
        analysis = services.analysis_create(footage=footage, created_by=user, model_version=model_version,
                                            enqueue=False)
        analysis = services.analysis_run_inline(analysis=analysis)
        if analysis.status != "succeeded":
            raise CommandError(f"The demo analysis {analysis.status}: {analysis.error}")
        s = analysis.summary
        self._say(f"Analysed: {s['faces_detected']} faces in {s['frames_analysed']} frames, "
                  f"{s['unique_faces']} unique, in {s['wall_time_s']} s.")
        return analysis

    def _serve(self, host: str, port: int) -> None:
        """A worker and the development server as child processes, until Ctrl-C (or SIGTERM): then all of
        them are gone within about 3 s (analysis.management.processes)."""
        root = str(Path(settings.BASE_DIR))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with ProcessGroup(cwd=root, env=env, grace_s=3.0, say=self._say) as group:
            # The worker gets a cold shutdown (SIGQUIT): a warm one waits on the broker's poll loop for many
            # seconds, and an interrupted segment is simply redelivered (acks_late, idempotent).
            group.start("The worker", [sys.executable, "-m", "celery", "-A", "emo7ion_site", "worker",
                                       "-Q", ",".join(worker_queues()), "--pool=solo", "--concurrency=1", "--without-gossip",
                                       "--without-mingle", "--loglevel=INFO"], stop_signal=signal.SIGQUIT)
            # runserver is daphne's (ASGI): the live pages' WebSockets work, and with the in-memory channel
            # layer (no REDIS_URL) it runs the live worker itself; with Redis the live worker is a process too.
            group.start("The web server", [sys.executable, str(Path(root) / "manage.py"), "runserver",
                                           f"{host}:{port}", "--noreload"], stop_signal=signal.SIGINT)
            if settings.EMO7ION_LIVE_WORKER == "external":
                group.start("The live worker", [sys.executable, str(Path(root) / "manage.py"), "live_worker"],
                            stop_signal=signal.SIGINT)
            self._say(", ".join(f"{c.name} (pid {c.process.pid})" for c in group.children)
                      + ("" if len(group.children) > 2 else " with an embedded live worker")
                      + f" running; site http://{host}:{port}/; Ctrl-C stops them.")
            try:
                group.wait()
            except ProcessExited as exc:
                raise CommandError(f"{exc}; stopping the demo.")
            self._say("\nStopping…")
