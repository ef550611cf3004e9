from ml import services
from ml.management.base import JsonCommand, resolve_dataset


class Command(JsonCommand):
    help = ("Search hyper-parameters with KerasTuner (Hyperband or random search) over the `tuned` family: "
            "dropout, stage widths, dense units and the learning rate. The budget is --trials x "
            "--epochs-per-trial; trials train on the dataset's train/ split and are scored on its val/ split "
            "(or --val-dataset). Runs in this process and stores a TuningRun row, as the tuning page does; "
            "`train_model --preset tuned --architecture-options ... --learning-rate ...` with the best values "
            "(printed) trains the real model.")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="an imported, labelled dataset's name")
        parser.add_argument("--val-dataset", default=None, help="an imported dataset to score trials on")
        parser.add_argument("--algorithm", choices=services.ALGORITHMS, default="hyperband")
        parser.add_argument("--trials", type=int, default=6, help="the most trials the search may run")
        parser.add_argument("--epochs-per-trial", type=int, default=5, help="the most epochs of each trial")
        parser.add_argument("--batch-size", type=int, default=128)
        parser.add_argument("--limit-per-class", type=int, default=None, help="cap images per class and split")
        parser.add_argument("--seed", type=int, default=7)
        super().add_arguments(parser)

    def run(self, **o) -> dict:
        run = services.tuning_run_start(
            dataset=resolve_dataset(o["dataset"]),
            val_dataset=resolve_dataset(o["val_dataset"]) if o["val_dataset"] else None,
            algorithm=o["algorithm"], max_trials=o["trials"], epochs_per_trial=o["epochs_per_trial"],
            batch_size=o["batch_size"], limit_per_class=o["limit_per_class"], seed=o["seed"], enqueue=False)
        run = services.tuning_run_execute(run=run, echo=self.log)
        return {"tuning_run_id": run.pk, "status": run.status, "error": run.error, "algorithm": run.algorithm,
                "trials": run.trials, "best": run.best or None}

    def summary(self, r: dict) -> str:
        if r["status"] != "succeeded":
            return f"Tuning run {r['tuning_run_id']} {r['status']}: {r['error']}"
        best = r["best"]
        values = ", ".join(f"{k} {v:g}" for k, v in sorted(best["hyperparameters"].items()))
        return (f"Tuning run {r['tuning_run_id']}: {len(r['trials'])} trials; the best, trial {best['trial']}, "
                f"scored {best['val_accuracy']:.2%} with {values}")
