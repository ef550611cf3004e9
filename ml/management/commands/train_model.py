import argparse
import json

from django.core.management.base import CommandError

from ml import services
from ml.management.base import JsonCommand, resolve_dataset, resolve_model
from ml.models import TrainingRun


class Command(JsonCommand):
    help = ("Train an emotion CNN on an imported dataset with the project's own training code "
            "(ml.engine.training.train, as the shipped default model was) and register the result as a new "
            "model version. Runs in this process; the row it records is the same a Celery run writes. "
            "Defaults reproduce nothing by themselves: see the README for the default model's exact command. "
            "--max-minutes pauses it with a complete checkpoint (`--resume RUN_ID` continues it); --folds K "
            "cross-validates the recipe instead (mean ± sd of each metric, no version registered).")

    def add_arguments(self, parser):
        d = services.TRAINING_DEFAULTS
        parser.add_argument("--dataset", help="an imported dataset's name (see import_dataset); required unless --resume")
        parser.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                            help="continue a paused training run (the other options are the run's own)")
        parser.add_argument("--val-data", default=None,
                            help="a folder/zip/CSV to validate on each epoch (default: the dataset's own val/ split)")
        parser.add_argument("--val-dataset", default=None, help="an imported dataset to validate on")
        parser.add_argument("--preset", choices=services.ARCHITECTURE_PRESETS, default=d["preset"])
        parser.add_argument("--epochs", type=int, default=d["epochs"])
        parser.add_argument("--batch-size", type=int, default=d["batch_size"])
        parser.add_argument("--learning-rate", type=float, default=d["learning_rate"],
                            help="peak SGD learning rate after warm-up, cosine-decayed to zero")
        parser.add_argument("--warmup-epochs", type=int, default=d["warmup_epochs"])
        parser.add_argument("--augmentation", choices=services.AUGMENTATIONS, default=d["augmentation"])
        parser.add_argument("--class-weighting", choices=services.CLASS_WEIGHTINGS, default=d["class_weighting"])
        parser.add_argument("--weight-decay", type=float, default=d["weight_decay"])
        parser.add_argument("--label-smoothing", type=float, default=d["label_smoothing"])
        parser.add_argument("--patience", type=int, default=d["patience"],
                            help="early stopping on validation loss after this many epochs; 0 = off")
        parser.add_argument("--seed", type=int, default=d["seed"])
        parser.add_argument("--limit-per-class", type=int, default=None, help="cap images per class and split")
        parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=d["mixed_precision"],
                            help="train in bf16 (worth it only on CPUs with native bf16; default off)")
        parser.add_argument("--init-model", default=None, metavar="VERSION",
                            help="fine-tune: start from this model version's weights (same preset) instead of random ones")
        parser.add_argument("--model-version", "--name", dest="model_version", default="",
                            help="name of the new model version "
                                                           "(default: <dataset>-<preset>-run<id>)")
        parser.add_argument("--crop-size", type=int, default=d["crop_size"],
                            help="train on random crops of this side and test on the centre crop; 0 = whole face")
        parser.add_argument("--swa-epochs", type=int, default=d["swa_epochs"],
                            help="average the weights of the last N epochs (SWA); 0 = off")
        parser.add_argument("--max-minutes", type=float, default=d["max_minutes"],
                            help="pause with a complete checkpoint before an epoch that would run past this")
        parser.add_argument("--pause-after-epochs", type=int, default=d["pause_after_epochs"], help=argparse.SUPPRESS)
        parser.add_argument("--architecture-options", type=json.loads, default=None, metavar="JSON",
                            help='the tuned preset\'s width, dense units and dropout, e.g. '
                                 '\'{"width": 0.75, "dense_units": 256, "dropout": 0.4}\' (what tune_model finds)')
        parser.add_argument("--folds", type=int, default=d["folds"],
                            help="k-fold cross-validation of the recipe (k >= 2) instead of one model")
        parser.add_argument("--output", default=None, help="folder for model.keras + model.json "
                                                            "(default: EMO7ION_MODEL_DIR/<version>)")
        super().add_arguments(parser)

    def run(self, **o) -> dict:
        if o["resume"] is not None:
            run = TrainingRun.objects.filter(pk=o["resume"]).first()
            if run is None:
                raise CommandError(f"No training run {o['resume']}")
            run = services.training_run_resume(run=run, enqueue=False)
        else:
            run = services.training_run_start(dataset=self._dataset(o), config=self._config(o), enqueue=False)
        run = services.training_run_execute(run=run)  # progress is logged to stderr
        mv = run.model_version
        result = {"training_run_id": run.pk, "status": run.status, "error": run.error, "config": run.config,
                  "epochs_completed": len(run.history), "history": run.history,
                  "wall_time_s": (run.finished_at - run.started_at).total_seconds() if run.finished_at else None}
        if run.status == "paused":
            result["resume"] = f"manage.py train_model --resume {run.pk}"
        if run.is_cross_validation:
            result["cross_validation"] = run.cross_validation
        if mv is not None:
            val = mv.metrics.get("validation") or {}
            result.update(model_version={"id": mv.pk, "name": mv.name, "file": mv.file, "sha256": mv.sha256},
                          validation={k: val.get(k) for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")})
        return result

    def _dataset(self, o: dict):
        if not o["dataset"]:
            raise CommandError("Give --dataset (or --resume RUN_ID to continue a paused run)")
        return resolve_dataset(o["dataset"])

    def _config(self, o: dict) -> dict:
        return {
            "preset": o["preset"], "epochs": o["epochs"], "batch_size": o["batch_size"],
            "learning_rate": o["learning_rate"], "warmup_epochs": o["warmup_epochs"],
            "augmentation": o["augmentation"], "class_weighting": o["class_weighting"],
            "weight_decay": o["weight_decay"], "label_smoothing": o["label_smoothing"], "patience": o["patience"],
            "seed": o["seed"], "limit_per_class": o["limit_per_class"], "mixed_precision": o["mixed_precision"],
            "val_data": o["val_data"], "version": o["model_version"], "output_dir": o["output"],
            "crop_size": o["crop_size"], "swa_epochs": o["swa_epochs"], "max_minutes": o["max_minutes"],
            "pause_after_epochs": o["pause_after_epochs"], "folds": o["folds"],
            "architecture_options": o["architecture_options"],
            "val_dataset_id": resolve_dataset(o["val_dataset"]).pk if o["val_dataset"] else None,
            "init_model_version_id": resolve_model(o["init_model"]).pk if o["init_model"] else None,
        }

    def summary(self, r: dict) -> str:
        if r["status"] == "paused":
            return (f"Training run {r['training_run_id']} paused after {r['epochs_completed']} epochs with a complete "
                    f"checkpoint; continue it with `{r['resume']}`")
        if r["status"] != "succeeded":
            return f"Training run {r['training_run_id']} {r['status']}: {r['error']}"
        if "cross_validation" in r:
            summary = r["cross_validation"]["summary"]
            return (f"Training run {r['training_run_id']}: {r['cross_validation']['folds']}-fold cross-validation, "
                    + ", ".join(f"{k} {m['mean']:.2%} ± {m['sd']:.2%}" for k, m in summary.items() if k != "recall"))
        v = r.get("validation") or {}
        return (f"Training run {r['training_run_id']} succeeded in {r['wall_time_s']:.0f} s: model version "
                f"{r['model_version']['name']} at {r['model_version']['file']}"
                + (f"; validation accuracy {v['accuracy']:.2%}, balanced {v['balanced_accuracy']:.2%} on {v['n']} faces"
                   if v.get("accuracy") is not None else ""))
