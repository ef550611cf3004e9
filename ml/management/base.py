"""What the ML commands share: `--json` prints exactly one JSON object on stdout, everything else
(progress, TensorFlow's chatter, Keras' epoch lines) goes to stderr, and a refusal is a clear
message and a non-zero exit — as JSON `{"error": ...}` too when --json was asked for. A service's
refusal (an `ApplicationError`) is such a message."""
from __future__ import annotations

import contextlib
import json
import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from emo7ion_site.core.exceptions import ApplicationError


class JsonCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (logs go to stderr)")

    def execute(self, *args, **options):
        # Route log records to stderr whatever the settings say, so stdout stays machine-readable.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers = [handler]
        try:
            return super().execute(*args, **options)
        finally:
            root.handlers = saved

    def handle(self, *args, **options):
        as_json = options["json"]
        try:
            result = self._run_quietly(options)
        except CommandError as exc:
            if as_json:
                self.stdout.write(json.dumps({"error": str(exc)}))
            raise
        if as_json:
            self.stdout.write(json.dumps(result, default=str))
        else:
            self.stdout.write(self.summary(result))
        if isinstance(result, dict) and result.get("status") in ("failed", "cancelled"):
            raise CommandError(result.get("error") or result["status"], returncode=2)

    def _run_quietly(self, options: dict) -> dict:
        try:
            with contextlib.redirect_stdout(sys.stderr):  # libraries that print() must not spoil stdout
                return self.run(**options)
        except ApplicationError as exc:  # a service's refusal: its message is the command's error
            raise CommandError(str(exc)) from exc

    def log(self, line: str) -> None:
        sys.stderr.write(line.rstrip() + "\n")
        sys.stderr.flush()

    def run(self, **options) -> dict:  # pragma: no cover - each command implements it
        raise NotImplementedError

    def summary(self, result: dict) -> str:
        return json.dumps(result, indent=1, default=str)


def resolve_model(ref: str | None):
    from ml import registry, selectors
    from ml.models import ModelVersion
    if ref:
        try:
            return selectors.model_version_by_ref(ref)
        except ModelVersion.DoesNotExist as exc:
            raise CommandError(str(exc.args[0] if exc.args else exc))
    mv = registry.active_model_version()
    if mv is None:
        raise CommandError("No model version is active and the shipped default model file is missing; "
                           "register one with `manage.py register_model PATH` or name one with --model")
    return mv


def resolve_dataset(name: str):
    from ml.models import Dataset
    ds = Dataset.objects.filter(name=name).first()
    if ds is None:
        known = ", ".join(Dataset.objects.values_list("name", flat=True)[:20]) or "none imported"
        raise CommandError(f"No dataset named {name!r} (known: {known}); import it first with "
                           f"`manage.py import_dataset PATH --name {name}`")
    return ds
