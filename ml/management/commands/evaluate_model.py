from ml import services
from ml.management.base import JsonCommand, resolve_dataset, resolve_model


class Command(JsonCommand):
    help = ("Evaluate a model version on labelled faces: accuracy, balanced accuracy, macro F1, per-class "
            "precision/recall/F1/support, confusion matrix, expected calibration error (ece) and the reliability "
            "table, faces per second, in the model's own inference mode (crop, TTA, calibration). A folder with "
            "train/ and val/ splits is evaluated on val unless --split says otherwise. Labels the model does not "
            "know are reported and skipped. Stores an Evaluation row.")

    def add_arguments(self, parser):
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument("--data", help="a folder, zip or CSV (any import_dataset format)")
        src.add_argument("--dataset", help="an imported dataset's name")
        parser.add_argument("--model", default=None, help="version name or id (default: the active version)")
        parser.add_argument("--split", choices=["train", "val", "test", "all"], default="",
                            help="default: val when the set has one, else every image")
        parser.add_argument("--tta", action="store_true",
                            help="average with the horizontally flipped face (default: the model's own TTA mode)")
        parser.add_argument("--faces", choices=services.FACE_MODES, default="auto",
                            help="auto: images up to 64 px are already face crops, larger ones go through the "
                                 "face detector; detect: always; whole: never")
        super().add_arguments(parser)

    def run(self, *, data, dataset, model, split, tta, faces, **options) -> dict:
        mv = resolve_model(model)
        ds = resolve_dataset(dataset) if dataset else None
        self.log(f"evaluating {mv.name} on {dataset or data} ...")
        ev = services.evaluation_run(model_version=mv, dataset=ds, data_path=data or "", split=split, tta=tta,
                                     faces=faces, enqueue=False)
        ev = services.evaluation_execute(evaluation=ev)
        if ev.status != "succeeded":
            return {"evaluation_id": ev.pk, "status": ev.status, "error": ev.error}
        return {"status": ev.status, **ev.metrics}

    def summary(self, r: dict) -> str:
        lines = [f"{r['model_version']} on {r['data']} ({r['note']}): {r['n']} faces",
                 f"  accuracy {r['accuracy']:.2%}, balanced accuracy {r['balanced_accuracy']:.2%}, "
                 f"macro F1 {r['macro_f1']:.4f}, ECE {r['ece']:.4f}, {r['faces_per_second']:.0f} faces/s "
                 f"(test-time augmentation {r['tta_mode']}{', calibrated' if r['calibrated'] else ''})"]
        for label, m in r["per_class"].items():
            lines.append(f"  {label:9s} precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f} "
                         f"support {m['support']}")
        if r["skipped_labels"]:
            lines.append(f"  skipped labels the model does not know: {r['skipped_labels']}")
        return "\n".join(lines)
