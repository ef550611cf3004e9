from django.core.management.base import CommandError

from ml import services
from ml.management.base import JsonCommand


class Command(JsonCommand):
    help = ("Register a .keras model file (its .json metadata beside it) as a model version. --activate makes "
            "it the active model, which is refused unless it already has a succeeded evaluation and bias audit.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="the .keras file")
        parser.add_argument("--name", default=None, help="version name (default: the metadata's version)")
        parser.add_argument("--activate", action="store_true", help="activate it (promotion rules apply)")
        super().add_arguments(parser)

    def run(self, *, path, name, activate, **options) -> dict:
        mv = services.model_version_register(path=path, name=name)
        if activate:
            try:
                mv = services.model_version_activate(model_version=mv, note="activated by register_model")
            except services.PromotionRefused as exc:
                raise CommandError(f"Registered {mv.name} (id {mv.pk}), but: {exc}")
        return {"id": mv.pk, "name": mv.name, "file": mv.file, "sha256": mv.sha256, "architecture": mv.architecture,
                "labels": mv.labels, "is_active": mv.is_active, "metrics": mv.metrics}

    def summary(self, r: dict) -> str:
        acc = (r["metrics"].get("validation") or {}).get("accuracy")
        return (f"Model version {r['name']} (id {r['id']}) registered{' and active' if r['is_active'] else ''}"
                + (f"; validation accuracy {acc:.1%}" if acc is not None else ""))
