from django.core.management.base import CommandError

from ml import services
from ml.engine.ship_rule import SHIP_RULE, judge, judged_mode
from ml.management.base import JsonCommand, resolve_model
from ml.services.scoring import inference_mode


def _throughputs(text: str) -> dict[str, float]:
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        return {mode.strip(): float(fps) for mode, fps in pairs}
    except ValueError:
        raise CommandError(f"--faces-per-second takes mode=faces/s pairs, e.g. none=378,flip=190; got {text!r}")


class Command(JsonCommand):
    help = ("Judge a registered candidate by the rule that decides what ships (ml/engine/ship_rule.py, the "
            "README's model section): the inference mode is the richest TTA that meets the throughput floor "
            "on an AVX2-only CPU (figures from benchmarks/bench_classifier.py), then PublicTest accuracy, "
            "balanced accuracy, fear recall, macro-F1 and ECE, and the JAFFE+TFEID audit's accuracy and group "
            "gap, each against its threshold. Runs and stores the evaluation and the bias audit; promotes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="the candidate's version name or id")
        parser.add_argument("--data", required=True, help="the selection set (FER2013 PublicTest: a folder with val/)")
        parser.add_argument("--audit-data", required=True, help="the labelled audit set (JAFFE+TFEID, with manifest.csv)")
        parser.add_argument("--faces-per-second", required=True, type=_throughputs,
                            help="the candidate's measured faces/s per TTA mode on an AVX2-only CPU, "
                                 "e.g. none=378,flip=190")
        super().add_arguments(parser)

    def run(self, *, model, data, audit_data, faces_per_second, **options) -> dict:
        mv = resolve_model(model)
        try:
            mode, floor_met = judged_mode(faces_per_second)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        serves = inference_mode(mv, False)["tta_mode"]
        if serves != mode:
            raise CommandError(
                f"{mv.name} serves test-time augmentation {serves!r}, but the rule judges it in {mode!r} "
                f"(the richest mode at {SHIP_RULE.faces_per_second:.0f} faces/s, else the fastest): calibrate a copy "
                f"with `python -m ml.engine.calibration MODEL.keras {data} --tta {mode}` and register that")
        self.log(f"judging {mv.name} in mode {mode}: evaluating on {data} ...")
        ev = services.evaluation_execute(evaluation=services.evaluation_run(
            model_version=mv, data_path=data, enqueue=False))
        if ev.status != "succeeded":
            return {"status": ev.status, "error": ev.error, "evaluation_id": ev.pk}
        self.log(f"auditing on {audit_data} ...")
        audit = services.bias_audit_execute(audit=services.bias_audit_run(
            model_version=mv, data_path=audit_data, enqueue=False))
        if audit.status != "succeeded":
            return {"status": audit.status, "error": audit.error, "bias_audit_id": audit.pk}
        verdict = judge(ev.metrics, audit.result)
        return {"model_version": mv.name, "mode": mode, "throughput_floor_met": floor_met,
                "faces_per_second": faces_per_second, **verdict,
                "evaluation_id": ev.pk, "bias_audit_id": audit.pk}

    def summary(self, r: dict) -> str:
        floor = "meets" if r["throughput_floor_met"] else "misses"
        lines = [f"{r['model_version']} judged in mode {r['mode']} ({floor} the throughput floor): "
                 + ("PASSES the rule" if r["passes"] else "does not pass: " + ", ".join(r["failures"]))]
        for c in r["checks"]:
            value = "n/a" if c["value"] is None else f"{c['value']:.4f}"
            lines.append(f"  {'ok  ' if c['passed'] else 'MISS'} {c['measure']:18s} {value:>8s} "
                         f"({c['need']} {c['threshold']})")
        return "\n".join(lines)
