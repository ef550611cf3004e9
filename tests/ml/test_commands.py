"""evaluate_model, bias_audit and train_model from the command line, on real data.

The tiny model (tests/conftest.py) is fast and says nothing about accuracy: these tests check
what the commands measure and print, not how good the model is."""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ml.engine.labels import EMOTIONS
from ml.models import BiasAudit, Evaluation, ModelVersion, TrainingRun
from tests.conftest import ROOT, _database_url_of_test_db, shared_path

pytestmark = pytest.mark.django_db


def _json(command, *args) -> dict:
    out = io.StringIO()
    call_command(command, *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_evaluate_model_on_fer2013_val(model_version):
    fer = shared_path("datasets", "fer2013")
    r = _json("evaluate_model", "--data", str(fer), "--model", model_version.name)
    # The folder has train/ and val/: the val split (PublicTest, 3,435 faces) is evaluated, and it says so.
    assert r["split"] == "val" and "val split by default" in r["note"]
    assert r["n"] == 3435
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert 0.0 <= r[key] <= 1.0
    assert set(r["per_class"]) == set(EMOTIONS)
    assert sum(m["support"] for m in r["per_class"].values()) == 3435
    cm = r["confusion_matrix"]
    assert len(cm) == 7 and sum(map(sum, cm)) == 3435
    assert r["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(7)) / 3435)
    assert r["faces_per_second"] > 0
    assert r["faces"]["mode"] == "auto" and r["faces"]["whole_image"] == 3435  # 48x48 crops are used whole
    ev = Evaluation.objects.get(pk=r["evaluation_id"])
    assert ev.status == "succeeded" and ev.metrics["n"] == 3435 and ev.data_path == str(fer.resolve())


def test_evaluate_model_reports_synonyms_and_skips_unknown_labels(model_version, fer_small, tmp_path):
    tree = tmp_path / "renamed"
    shutil.copytree(fer_small / "val", tree)
    (tree / "angry").rename(tree / "anger")          # a synonym: still angry
    (tree / "happy").rename(tree / "happiness")
    (tree / "contempt").mkdir()                      # a class the model does not know
    for i, f in enumerate(sorted((tree / "sad").glob("*.jpg"))[:4]):
        shutil.copy(f, tree / "contempt" / f"c{i}.jpg")
    r = _json("evaluate_model", "--data", str(tree), "--model", model_version.name)
    assert r["n"] == 70
    assert r["per_class"]["angry"]["support"] == 10 and r["per_class"]["happy"]["support"] == 10
    assert r["skipped_labels"] == {"contempt": 4}


def test_evaluate_model_on_imported_dataset_and_split(model_version, fer_small):
    call_command("import_dataset", str(fer_small), "--name", "fer-small", stdout=io.StringIO())
    r = _json("evaluate_model", "--dataset", "fer-small", "--split", "train", "--tta")
    assert r["split"] == "train" and r["n"] == 280 and r["tta"] is True
    assert r["model_version"] == model_version.name  # the active version by default
    assert Evaluation.objects.get(pk=r["evaluation_id"]).dataset.name == "fer-small"


def test_evaluate_model_refusals(model_version, audit_zip):
    with pytest.raises(CommandError, match="No model version 'nope'"):
        _json("evaluate_model", "--data", "/tmp", "--model", "nope")
    with pytest.raises(CommandError, match="No dataset named 'nope'"):
        _json("evaluate_model", "--dataset", "nope")
    with pytest.raises(CommandError, match="unlabelled set needs a bias audit"):
        _json("evaluate_model", "--data", str(audit_zip))
    assert Evaluation.objects.get().status == "failed"  # recorded, with its reason


@pytest.mark.slow
def test_bias_audit_labelled_jaffe_tfeid(model_version):
    data = shared_path("datasets", "audit", "jaffe-tfeid")
    r = _json("bias_audit", "--data", str(data), "--attributes", "source,population")
    assert r["labelled"] is True and r["n"] == 423
    assert set(r["attributes"]) == {"source", "population"}
    src = r["attributes"]["source"]
    assert {g: m["n"] for g, m in src["groups"].items()} == {"jaffe": 213, "tfeid": 210}
    for m in src["groups"].values():
        assert 0.0 <= m["accuracy"] <= 1.0 and set(m["per_class_recall"]) == set(EMOTIONS)
    accs = [m["accuracy"] for m in src["groups"].values()]
    assert src["max_accuracy_gap"] == pytest.approx(max(accs) - min(accs), abs=1e-3)
    assert r["max_accuracy_gap"] is not None and r["min_max_ratio"] is not None
    assert r["verdict"] in ("pass", "flagged") and isinstance(r["flags"], list)
    # Faces go through the production detector and crop; JAFFE/TFEID photos are larger than a crop.
    assert r["faces"]["detector"] in ("yunet", "haar")
    assert r["faces"]["cropped_by_detector"] + r["faces"]["whole_image"] == 423
    audit = BiasAudit.objects.get(pk=r["bias_audit_id"])
    assert audit.status == "succeeded" and audit.verdict == r["verdict"] and audit.attributes == ["source", "population"]


@pytest.mark.slow
def test_bias_audit_unlabelled_utkface(model_version):
    data = shared_path("datasets", "audit", "utkface-400")
    r = _json("bias_audit", "--data", str(data), "--gap-threshold", "0.15")
    assert r["labelled"] is False and r["n"] == 400
    assert set(r["attributes"]) == {"gender", "race", "age_band"}
    race = r["attributes"]["race"]
    assert {g: m["n"] for g, m in race["groups"].items()} == {g: 80 for g in ("asian", "black", "indian", "other", "white")}
    for m in race["groups"].values():
        assert m["accuracy"] is None  # no labels: no accuracy, only predicted shares
        assert sum(m["predicted_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert r["max_accuracy_gap"] is None and r["gap_threshold"] == 0.15
    assert all(f["metric"] == "parity_difference" and f["value"] > 0.15 for f in r["flags"])
    assert (r["verdict"] == "flagged") == bool(r["flags"])


def test_bias_audit_refusals(model_version, fer_small):
    with pytest.raises(CommandError, match="has no group attributes"):
        _json("bias_audit", "--data", str(fer_small / "val"))
    with pytest.raises(CommandError, match="Unknown attribute 'religion'"):
        _json("bias_audit", "--data", str(shared_path("datasets", "audit", "utkface-400")), "--attributes", "religion",
              "--faces", "whole")


def test_train_model_command_registers_a_version(fer_small, settings, tmp_path):
    call_command("import_dataset", str(fer_small), "--name", "fer-small", stdout=io.StringIO())
    r = _json("train_model", "--dataset", "fer-small", "--preset", "tiny", "--epochs", "1", "--batch-size", "32",
              "--learning-rate", "0.02", "--warmup-epochs", "0", "--no-mixed-precision", "--augmentation", "none")
    assert r["status"] == "succeeded" and r["epochs_completed"] == 1
    assert r["validation"]["n"] == 70  # the dataset's own val/ split
    mv = ModelVersion.objects.get(pk=r["model_version"]["id"])
    assert mv.name == f"fer-small-tiny-run{r['training_run_id']}" and not mv.is_active
    assert mv.training_dataset.name == "fer-small"
    assert str(settings.EMO7ION_MODEL_DIR) in mv.file
    assert mv.metadata["training"]["dataset_name"] == "fer-small"
    assert TrainingRun.objects.get(pk=r["training_run_id"]).history[0]["epoch"] == 1


def test_train_model_val_data_path_as_in_the_readme(fer_small, tmp_path):
    """The README's reproduction command passes --val-data as a path."""
    call_command("import_dataset", str(fer_small), "--name", "fer-small", stdout=io.StringIO())
    r = _json("train_model", "--dataset", "fer-small", "--val-data", str(fer_small / "val"), "--preset", "tiny",
              "--epochs", "1", "--batch-size", "64", "--learning-rate", "0.1", "--warmup-epochs", "0",
              "--limit-per-class", "20", "--no-mixed-precision")
    assert r["status"] == "succeeded"
    assert r["config"]["val_data"] == str((fer_small / "val").resolve())
    assert r["validation"]["n"] == 70
    # Only train/ is read (as `python -m ml.engine.training <fer>/train ...` does): same images, same hash.
    from ml.engine.datasets import read_dataset
    training = ModelVersion.objects.get(pk=r["model_version"]["id"]).metadata["training"]
    assert training["n_train"] == 7 * 20
    assert training["dataset_content_hash"] == read_dataset(fer_small / "train", limit_per_class=20).content_hash
    with pytest.raises(CommandError, match="does not exist"):
        _json("train_model", "--dataset", "fer-small", "--val-data", str(tmp_path / "nope"))


def test_json_is_the_only_thing_on_stdout(transactional_db, model_version, fer_small, settings):
    """A real process: TensorFlow and Keras write a lot; none of it may reach stdout."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test",
           "DATABASE_URL": _database_url_of_test_db(), "TF_CPP_MIN_LOG_LEVEL": "0"}
    proc = subprocess.run([sys.executable, "manage.py", "evaluate_model", "--data", str(fer_small), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)  # one object, nothing else
    assert r["n"] == 70 and r["model_version"] == model_version.name
    assert "reading" in proc.stderr


def test_a_redelivered_training_task_leaves_a_live_run_alone_and_resumes_a_dead_one(fer_small):
    from datetime import timedelta

    from django.utils import timezone

    from ml import services
    ds = services.dataset_import(path_or_file=fer_small, name="fer-small")
    run = services.training_run_start(dataset=ds, enqueue=False, config={
        "preset": "tiny", "epochs": 1, "batch_size": 64, "learning_rate": 0.05, "warmup_epochs": 0,
        "augmentation": "none", "mixed_precision": False, "limit_per_class": 10})
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    services.training_run_execute(run=run)
    run.refresh_from_db()
    assert run.status == "running" and run.history == [] and run.model_version is None  # untouched
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    services.training_run_execute(run=run)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.model_version is not None


def test_train_model_fine_tunes_from_a_model_version(model_version, fer_small):
    """--init-model starts from a version's weights: with a vanishing learning rate, the result keeps
    them; a run from scratch with the same settings does not."""
    import keras
    import numpy as np
    call_command("import_dataset", str(fer_small), "--name", "fer-small", stdout=io.StringIO())
    common = ("--dataset", "fer-small", "--preset", "tiny", "--epochs", "1", "--batch-size", "64",
              "--learning-rate", "1e-7", "--warmup-epochs", "0", "--augmentation", "none", "--limit-per-class", "10")
    tuned = _json("train_model", *common, "--init-model", "tiny-test", "--model-version", "tiny-tuned")
    fresh = _json("train_model", *common, "--model-version", "tiny-fresh")
    assert tuned["status"] == fresh["status"] == "succeeded"

    def first_kernel(name):
        mv = ModelVersion.objects.get(name=name)
        model = keras.models.load_model(mv.file, compile=False)
        return next(w for w in model.get_weights() if w.ndim == 4), mv

    source, _ = first_kernel("tiny-test")
    tuned_kernel, tuned_mv = first_kernel("tiny-tuned")
    fresh_kernel, fresh_mv = first_kernel("tiny-fresh")
    assert np.allclose(tuned_kernel, source, atol=1e-4)
    assert not np.allclose(fresh_kernel, source, atol=1e-2)
    assert tuned_mv.metadata["training"]["init_model_sha256"] == model_version.sha256
    assert "init_model_sha256" not in fresh_mv.metadata["training"]

    with pytest.raises(CommandError, match="is a 'tiny' network; train with --preset tiny"):
        _json("train_model", "--dataset", "fer-small", "--preset", "small", "--init-model", "tiny-test")
    with pytest.raises(CommandError):
        _json("train_model", "--dataset", "fer-small", "--preset", "tiny", "--init-model", "no-such-version")
