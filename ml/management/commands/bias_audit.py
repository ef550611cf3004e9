from ml import services
from ml.management.base import JsonCommand, resolve_dataset, resolve_model


class Command(JsonCommand):
    help = ("Audit a model version for bias on a set with group attributes (manifest.csv: "
            "path,label,<attributes>). Faces are detected and cropped as the analysis pipeline does. Labelled "
            "sets: per group n, accuracy and per-class recall, the largest accuracy gap and the worst/best ratio. "
            "Unlabelled sets (empty label column): parity of predicted emotion shares between groups. Gaps above "
            "the thresholds are flagged. Stores a BiasAudit row with its verdict.")

    def add_arguments(self, parser):
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument("--data", help="a folder or zip with manifest.csv (or the manifest CSV itself)")
        src.add_argument("--dataset", help="an imported audit dataset's name")
        parser.add_argument("--model", default=None, help="version name or id (default: the active version)")
        parser.add_argument("--attributes", default="", help="comma-separated, e.g. gender,age_band (default: all)")
        parser.add_argument("--gap-threshold", type=float, default=0.10,
                            help="flag accuracy, recall and predicted-share gaps above this (default 0.10)")
        parser.add_argument("--ratio-threshold", type=float, default=0.80,
                            help="flag a worst/best accuracy ratio below this (default 0.80)")
        parser.add_argument("--min-group-size", type=int, default=20,
                            help="groups with fewer images are reported but not compared (default 20)")
        parser.add_argument("--faces", choices=services.FACE_MODES, default="auto",
                            help="auto (default): detect faces in images larger than 64 px; detect; whole")
        parser.add_argument("--detector", default="", help="yunet or haar (default: the pipeline's default)")
        super().add_arguments(parser)

    def run(self, *, data, dataset, model, attributes, gap_threshold, ratio_threshold, min_group_size, faces,
            detector, **options) -> dict:
        mv = resolve_model(model)
        ds = resolve_dataset(dataset) if dataset else None
        self.log(f"auditing {mv.name} on {dataset or data} ...")
        audit = services.bias_audit_run(
            model_version=mv, dataset=ds, data_path=data or "", attributes=attributes.split(","),
            gap_threshold=gap_threshold, ratio_threshold=ratio_threshold, min_group_size=min_group_size,
            faces=faces, detector=detector, enqueue=False)
        audit = services.bias_audit_execute(audit=audit)
        if audit.status != "succeeded":
            return {"bias_audit_id": audit.pk, "status": audit.status, "error": audit.error}
        return {"status": audit.status, **audit.result}

    def summary(self, r: dict) -> str:
        lines = [f"{r['model_version']} on {r['data']}: {r['n']} faces, "
                 f"{'labelled' if r['labelled'] else 'unlabelled'}; verdict {r['verdict']}"]
        for attr, e in r["attributes"].items():
            groups = ", ".join(
                f"{g} n={m['n']}" + (f" acc {m['accuracy']:.1%}" if m["accuracy"] is not None else "")
                for g, m in e["groups"].items())
            lines.append(f"  {attr}: {groups}")
            if e["max_accuracy_gap"] is not None:
                lines.append(f"    accuracy gap {e['max_accuracy_gap']:.1%}, worst/best {e['min_max_ratio']:.2f}")
            if e["max_parity_difference"] is not None:
                lines.append(f"    largest predicted-share difference {e['max_parity_difference']:.1%} "
                             f"({e['max_parity_label']})")
        for f in r["flags"]:
            lines.append(f"  FLAG {f['message']} (p={f['p_value']})")
        return "\n".join(lines)
