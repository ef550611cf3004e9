"""Training survives a session's end: a run paused with a complete checkpoint and resumed later gives
the history and weights of a run that was never interrupted (same order, augmentation, dropout,
optimizer state, learning-rate schedule and weight average)."""
from __future__ import annotations

import json
import warnings
from dataclasses import replace

import keras
import numpy as np
import pytest

from ml.engine.classifier import EmotionClassifier, read_metadata
from ml.engine.cpu import has_native_bf16
from ml.engine.training import TrainingConfig, main, next_epoch_estimate, parse_config, same_run, train


def _config(fer_sample_dir, out, **overrides) -> TrainingConfig:
    base = TrainingConfig(train_data=str(fer_sample_dir), output_dir=str(out), preset="tiny", epochs=4,
                          batch_size=32, learning_rate=0.02, warmup_epochs=1, limit_per_class=12,
                          augmentation="strong", crop_size=40, swa_epochs=2, seed=11, version="resume-test")
    return replace(base, **overrides)


def _numbers(history):
    return [[row[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")] for row in history]


def test_a_run_cut_in_two_gives_the_history_of_an_uninterrupted_one(fer_sample_dir, tmp_path):
    whole = train(_config(fer_sample_dir, tmp_path / "whole"))

    first = train(_config(fer_sample_dir, tmp_path / "cut", pause_after_epochs=2))
    assert first.paused and not first.model_path
    assert [row["epoch"] for row in first.history] == [1, 2]
    state = json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2
    assert not (tmp_path / "cut" / "model.keras").exists()

    second = train(_config(fer_sample_dir, tmp_path / "cut"))  # the same command again resumes
    assert not second.paused
    assert [row["epoch"] for row in second.history] == [1, 2, 3, 4]
    np.testing.assert_allclose(_numbers(second.history), _numbers(whole.history), rtol=1e-4, atol=1e-5)

    a = keras.models.load_model(whole.model_path).get_weights()
    b = keras.models.load_model(second.model_path).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def test_crop_size_swa_and_the_cpu_are_recorded_and_inference_follows_the_crop(fer_sample_dir, tmp_path):
    result = train(_config(fer_sample_dir, tmp_path / "run", epochs=3))
    meta = read_metadata(result.model_path)
    assert meta["input_size"] == 48 and meta["crop"] == {"size": 40}
    assert meta["training"]["swa"] == {"epochs": 2, "from_epoch": 2}
    assert meta["training"]["config"]["crop_size"] == 40
    assert isinstance(meta["training"]["cpu_flags"], list)
    model = keras.models.load_model(result.model_path)
    assert model.input_shape[1:3] == (40, 40)
    clf = EmotionClassifier(result.model_path)
    faces = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    expected = model.predict(faces[:, 4:44, 4:44, None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(clf.predict_proba(faces), expected, rtol=1e-4, atol=1e-5)


def test_a_run_resumes_in_the_other_precision_with_its_weights_and_momentum(fer_sample_dir, tmp_path):
    """A run started on a CPU without native bf16 and resumed on one with it (and back): precision is
    chosen per call, and the switch keeps the weights and the optimizer's state."""
    from ml.engine.training import _in_compute_precision

    first = train(_config(fer_sample_dir, tmp_path / "run", pause_after_epochs=1))
    assert first.paused
    saved = keras.models.load_model(tmp_path / "run" / "checkpoint" / "last.keras")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        bf16 = _in_compute_precision(saved, _config(fer_sample_dir, tmp_path / "run", mixed_precision=True), 40)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    convs = [layer for layer in bf16.layers if layer.weights and layer.name != "emotion"]
    assert convs and {layer.compute_dtype for layer in convs} == {"bfloat16"}
    assert bf16.get_layer("emotion").compute_dtype == "float32"
    for a, b in zip(saved.get_weights(), bf16.get_weights()):
        np.testing.assert_array_equal(a, b)
    momentum = [np.asarray(v) for v in saved.optimizer.variables]
    assert int(momentum[0]) > 0 and any(np.abs(m).sum() > 0 for m in momentum[2:])  # a trained optimizer
    for a, b in zip(momentum, bf16.optimizer.variables):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert _in_compute_precision(saved, _config(fer_sample_dir, tmp_path / "run"), 40) is saved

    # Epoch 2 in bf16 (its checkpoint computes in bf16), then the rest back in float32. Where the CPU
    # lacks native bf16 the run says it is emulated, once; where it has it, nothing is said.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = train(_config(fer_sample_dir, tmp_path / "run", mixed_precision=True, pause_after_epochs=1))
    emulated = [w for w in caught if issubclass(w.category, RuntimeWarning) and "emulated" in str(w.message)]
    assert len(emulated) == (0 if has_native_bf16() else 1)
    assert second.paused and [row["epoch"] for row in second.history] == [1, 2]
    saved_bf16 = keras.models.load_model(tmp_path / "run" / "checkpoint" / "last.keras")
    assert {layer.compute_dtype for layer in saved_bf16.layers if layer.weights and layer.name != "emotion"} == {"bfloat16"}
    third = train(_config(fer_sample_dir, tmp_path / "run"))
    assert not third.paused and [row["epoch"] for row in third.history] == [1, 2, 3, 4]
    final = keras.models.load_model(third.model_path)
    assert {layer.compute_dtype for layer in final.layers if layer.weights} == {"float32"}
    assert read_metadata(third.model_path)["training"]["config"]["mixed_precision"] is False


def test_precision_is_not_part_of_a_runs_identity(fer_sample_dir, tmp_path, monkeypatch):
    import ml.engine.training as training

    saved = {**_config(fer_sample_dir, tmp_path).to_json(), "mixed_precision": False}
    for key in ("max_minutes", "pause_after_epochs", "resume"):
        saved.pop(key)
    assert same_run(saved, _config(fer_sample_dir, tmp_path, mixed_precision=True))
    assert not same_run({**saved, "seed": 12}, _config(fer_sample_dir, tmp_path, mixed_precision=True))
    for native, expected in ((True, True), (False, False)):
        monkeypatch.setattr(training, "has_native_bf16", lambda: native)
        assert parse_config([".", "out", "--mixed-precision", "auto"]).mixed_precision is expected
    assert parse_config([".", "out", "--mixed-precision", "true"]).mixed_precision is True


def test_a_changed_recipe_does_not_resume_an_old_checkpoint(fer_sample_dir, tmp_path):
    train(_config(fer_sample_dir, tmp_path / "run", pause_after_epochs=1))
    other = train(_config(fer_sample_dir, tmp_path / "run", epochs=2, learning_rate=0.05))
    assert [row["epoch"] for row in other.history] == [1, 2]
    assert other.history[0]["lr"] == pytest.approx(0.05 / 2)


def test_the_command_line_says_when_it_paused(fer_sample_dir, tmp_path, capsys):
    main([str(fer_sample_dir), str(tmp_path / "cli"), "--preset", "tiny", "--epochs", "3", "--batch-size", "32",
          "--limit-per-class", "5", "--pause-after-epochs", "1", "--crop-size", "40"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == {"paused": True, "epochs_done": 1, "wall_time_s": last["wall_time_s"],
                    "resume": "run the same command again"}


def test_a_student_distilled_from_a_teacher_records_it(fer_sample_dir, tmp_path, tiny_model_path):
    from ml.engine.classifier import sha256_of
    from ml.engine.datasets import read_dataset
    from ml.engine.training import distillation_targets

    config = _config(fer_sample_dir, tmp_path / "student", epochs=1, swa_epochs=0,
                     teacher_model=str(tiny_model_path), distill_weight=0.6)
    data = read_dataset(str(fer_sample_dir), limit_per_class=3)
    targets, sha = distillation_targets(data, config, 40)
    assert sha == sha256_of(tiny_model_path)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-5)
    # the label keeps at least its 40% share; the teacher's 60% is spread by its probabilities
    assert (targets[np.arange(len(data)), data.labels] >= 0.4 - 1e-6).all()
    assert (targets.max(axis=1) < 1.0).all()
    result = train(config)
    assert read_metadata(result.model_path)["training"]["teacher_sha256"] == sha

    # Two teachers are an ensemble: the targets' teacher share is the mean of their probabilities.
    pair = replace(config, teacher_model=f"{tiny_model_path},{result.model_path}")
    ensemble_targets, shas = distillation_targets(data, pair, 40)
    assert shas == f"{sha},{sha256_of(result.model_path)}"
    mean = (EmotionClassifier(tiny_model_path, tta="flip").predict_proba(data.images)
            + EmotionClassifier(result.model_path, tta="flip").predict_proba(data.images)) / 2
    np.testing.assert_allclose(ensemble_targets, 0.6 * mean + 0.4 * np.eye(7)[data.labels], atol=1e-5)


def test_a_resumed_student_reads_its_soft_targets_from_the_checkpoint(fer_sample_dir, tmp_path, tiny_model_path,
                                                                      monkeypatch):
    from ml.engine import ensembles
    from ml.engine.datasets import read_dataset
    from ml.engine.training import distillation_targets

    config = _config(fer_sample_dir, tmp_path / "student", teacher_model=str(tiny_model_path), distill_weight=0.6)
    data = read_dataset(str(fer_sample_dir), limit_per_class=3)
    cache = tmp_path / "targets.npz"
    fresh, sha = distillation_targets(data, config, 40, cache=cache)
    assert cache.is_file()

    teacher_runs = []
    real = ensembles.ensemble_probabilities
    monkeypatch.setattr(ensembles, "ensemble_probabilities",
                        lambda *a, **k: teacher_runs.append(1) or real(*a, **k))
    again, same_sha = distillation_targets(data, config, 40, cache=cache)
    assert teacher_runs == [] and same_sha == sha          # read back: no teacher ran
    np.testing.assert_array_equal(again, fresh)

    # Another weight, other faces or other teachers: recomputed, never the stale targets.
    reweighted, _ = distillation_targets(data, replace(config, distill_weight=0.5), 40, cache=cache)
    assert len(teacher_runs) == 1 and not np.allclose(reweighted, fresh)
    fewer = read_dataset(str(fer_sample_dir), limit_per_class=2)
    assert distillation_targets(fewer, config, 40, cache=cache)[0].shape == (len(fewer), 7)
    assert len(teacher_runs) == 2
    pair = replace(config, teacher_model=f"{tiny_model_path},{tiny_model_path}")
    assert distillation_targets(data, pair, 40, cache=cache)[1] == f"{sha},{sha}" and len(teacher_runs) == 3

    # A teacher calibrated again (its metadata, not its weights, changed): recomputed too.
    import shutil

    from ml.engine.classifier import metadata_path_for
    teacher = tmp_path / "teacher" / tiny_model_path.name
    teacher.parent.mkdir()
    shutil.copy(tiny_model_path, teacher)
    shutil.copy(metadata_path_for(tiny_model_path), metadata_path_for(teacher))
    moved = replace(config, teacher_model=str(teacher))
    distillation_targets(data, moved, 40, cache=cache)
    assert len(teacher_runs) == 4
    distillation_targets(data, moved, 40, cache=cache)
    assert len(teacher_runs) == 4                           # the same files: read back
    meta = json.loads(metadata_path_for(teacher).read_text())
    metadata_path_for(teacher).write_text(json.dumps({**meta, "calibration": {"temperature": 2.0}}))
    distillation_targets(data, moved, 40, cache=cache)
    assert len(teacher_runs) == 5


def test_a_checkpoint_from_before_an_option_existed_still_resumes(fer_sample_dir, tmp_path):
    from ml.engine.training import _config_identity, same_run
    config = _config(fer_sample_dir, tmp_path / "run")
    older = _config_identity(config)
    del older["teacher_model"], older["distill_weight"]  # written by code that had no distillation yet
    assert same_run(older, config)
    assert not same_run(older, replace(config, distill_weight=0.5))  # not the default: another run
    assert not same_run({**older, "removed_option": 1}, config)
    assert not same_run({**older, "epochs": 5}, config)


def test_the_time_budget_is_not_fooled_by_one_paused_epoch():
    # A resumed run paused (SIGSTOP) during its first epoch: 1,949 s recorded against ~400 s before.
    assert next_epoch_estimate([1949.0], [335.1, 422.7, 446.5]) == pytest.approx(422.7)
    # Three epochs of this call: their median, which one slow epoch does not move.
    assert next_epoch_estimate([1949.0, 410.0, 430.0], [170.0, 172.0]) == pytest.approx(430.0)
    # A fresh run (no history) trusts its own epochs; a faster machine than the checkpoint's keeps
    # its own, shorter estimate.
    assert next_epoch_estimate([450.0], []) == pytest.approx(450.0)
    assert next_epoch_estimate([160.0, 170.0], [400.0, 420.0, 440.0]) == pytest.approx(165.0)
