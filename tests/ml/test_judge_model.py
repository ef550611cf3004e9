"""The rule that decides what ships (ml/engine/ship_rule.py) and `manage.py judge_model`, which applies
it to a registered candidate: the mode it is judged in, each threshold, and the refusals."""
import csv
import io
import json
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ml.engine.labels import EMOTIONS
from ml.engine.ship_rule import SHIP_RULE, judge, judged_mode
from ml.models import BiasAudit, Evaluation


def _evaluation(accuracy, balanced, fear, f1, ece) -> dict:
    per_class = {label: {"recall": 0.6} for label in EMOTIONS}
    per_class["fear"] = {"recall": fear}
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "macro_f1": f1, "ece": ece, "per_class": per_class}


def _audit(accuracy, gap) -> dict:
    return {"overall": {"accuracy": accuracy}, "max_accuracy_gap": gap}


def test_the_judged_mode_is_the_richest_that_meets_the_floor_else_the_fastest():
    assert judged_mode({"none": 1900, "flip": 950, "crops": 190}) == ("flip", True)
    assert judged_mode({"none": 1900, "flip": 950, "crops": 600}) == ("crops", True)
    # vgg-m on an AVX2 CPU (Keras held to AVX2, 2026-12-06): no mode meets 600, the fastest is judged.
    assert judged_mode({"none": 378, "flip": 190}) == ("none", False)
    with pytest.raises(ValueError, match="No throughput given"):
        judged_mode({"ten-crop": 900})


def test_v2s_recorded_numbers_miss_the_four_thresholds_the_readme_names():
    # fer2013-vgg-m-v2 in its judged mode (README): 68.4% / 69.2% / fear 43.5% / F1 0.653 / ECE 0.025,
    # JAFFE+TFEID 51.1% with a 5.0-point gap.
    verdict = judge(_evaluation(0.684, 0.692, 0.435, 0.653, 0.025), _audit(0.511, 0.050))
    assert not verdict["passes"]
    assert verdict["failures"] == ["accuracy", "fear_recall", "macro_f1", "audit_accuracy"]
    by_name = {c["measure"]: c for c in verdict["checks"]}
    assert by_name["ece"] == {"measure": "ece", "value": 0.025, "threshold": 0.05, "need": "at most", "passed": True}
    assert by_name["accuracy"]["need"] == "at least" and by_name["accuracy"]["threshold"] == SHIP_RULE.accuracy


def test_a_candidate_at_every_threshold_passes_and_one_point_below_any_fails():
    at = dict(accuracy=0.71, balanced=0.67, fear=0.52, f1=0.67, ece=0.05)
    assert judge(_evaluation(**at), _audit(0.55, 0.08))["passes"]
    for name in at:
        worse = {**at, name: at[name] + (0.01 if name == "ece" else -0.01)}
        assert not judge(_evaluation(**worse), _audit(0.55, 0.08))["passes"], name
    assert judge(_evaluation(**at), _audit(0.55, 0.09))["failures"] == ["audit_gap"]
    # An audit whose groups were too small to compare shows no gap: that is not a pass.
    assert judge(_evaluation(**at), _audit(0.60, None))["failures"] == ["audit_gap"]


@pytest.fixture
def labelled_audit(fer_small, tmp_path):
    """A labelled audit set of real 48 px faces: fer_small's val faces in two groups of 35."""
    folder = tmp_path / "audit"
    (folder / "images").mkdir(parents=True)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "group"])
        for i, image in enumerate(sorted((fer_small / "val").glob("*/*.jpg"))):
            shutil.copy(image, folder / "images" / f"{i}.jpg")
            writer.writerow([f"images/{i}.jpg", image.parent.name, "a" if i % 2 else "b"])
    return folder


@pytest.mark.django_db
def test_judge_model_evaluates_audits_and_applies_the_rule(model_version, fer_small, labelled_audit):
    out = io.StringIO()
    call_command("judge_model", "--model", model_version.name, "--data", str(fer_small), "--audit-data",
                 str(labelled_audit), "--faces-per-second", "none=5000", "--json", stdout=out)
    r = json.loads(out.getvalue())
    assert r["mode"] == "none" and r["throughput_floor_met"] is True
    ev, audit = Evaluation.objects.get(pk=r["evaluation_id"]), BiasAudit.objects.get(pk=r["bias_audit_id"])
    assert ev.metrics["n"] == 70 and audit.result["n"] == 70
    values = {c["measure"]: c["value"] for c in r["checks"]}
    assert values["accuracy"] == ev.metrics["accuracy"] and values["ece"] == ev.metrics["ece"]
    assert values["fear_recall"] == ev.metrics["per_class"]["fear"]["recall"]
    assert values["audit_accuracy"] == audit.result["overall"]["accuracy"]
    assert values["audit_gap"] == audit.result["max_accuracy_gap"] is not None
    # The tiny test model is far from the thresholds: it does not pass, and says on what.
    assert r["passes"] is False and "accuracy" in r["failures"]

    text = io.StringIO()
    call_command("judge_model", "--model", model_version.name, "--data", str(fer_small), "--audit-data",
                 str(labelled_audit), "--faces-per-second", "none=300,flip=150", stdout=text)
    assert "judged in mode none (misses the throughput floor): does not pass: accuracy" in text.getvalue()


@pytest.mark.django_db
def test_judge_model_refuses_a_model_calibrated_for_another_mode_and_bad_figures(model_version, fer_small):
    with pytest.raises(CommandError, match=r"serves test-time augmentation 'none', but the rule judges it in "
                                           r"'flip'.*--tta flip"):
        call_command("judge_model", "--model", model_version.name, "--data", str(fer_small), "--audit-data",
                     str(fer_small), "--faces-per-second", "none=5000,flip=900", stdout=io.StringIO())
    with pytest.raises(CommandError, match="mode=faces/s pairs"):
        call_command("judge_model", "--model", model_version.name, "--data", str(fer_small), "--audit-data",
                     str(fer_small), "--faces-per-second", "fast", stdout=io.StringIO())
    assert not Evaluation.objects.exists() and not BiasAudit.objects.exists()
