"""The fast lane: packed faces travel exactly, the views are one per step for student and teachers,
a budget lays out one whole schedule, and a returned run becomes a model the classifier serves.
Run here on TensorFlow; on a lent accelerator the same code runs on JAX."""
from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def packed(tmp_path_factory, fer_sample_dir):
    from ml.engine.fastlane import pack
    path = tmp_path_factory.mktemp("fastlane") / "faces.npz"
    summary = pack(str(fer_sample_dir), str(path), limit_per_class=30)
    return path, summary


def test_packed_faces_come_back_exactly(packed, fer_sample_dir):
    from ml.engine.datasets import read_dataset
    from ml.engine.fastlane import unpack
    path, summary = packed
    data = read_dataset(str(fer_sample_dir), limit_per_class=30)
    data = data.split("train")
    faces, labels, content_hash, source = unpack(str(path))
    assert np.array_equal(faces, data.images) and np.array_equal(labels, data.labels)
    assert content_hash == data.content_hash == summary["content_hash"] and source == fer_sample_dir.name
    assert summary["faces"] == len(data)


def test_student_and_teacher_read_the_same_random_view(tiny_model_path):
    """The teacher's 44 px crop and the student's 40 px crop come from one augmented view: their
    common centre is the same pixels, and it differs from the unaugmented face."""
    import keras

    from ml.engine.architectures import build_model
    from ml.engine.fastlane import FastLaneConfig, _training_model
    teacher_path = tiny_model_path.parent / "teacher-44.keras"
    build_model("tiny", 44).save(teacher_path)
    config = FastLaneConfig("", "", preset="tiny", crop_size=40, teacher=str(teacher_path))
    model, n_teachers = _training_model(build_model("tiny", 40), config)
    assert n_teachers == 1
    crops = sorted((layer for layer in model.layers if isinstance(layer, keras.layers.Cropping2D)),
                   key=lambda layer: layer.output.shape[1])  # the student's 40 px, then the teacher's 44
    probe = keras.Model(model.input, [layer.output for layer in crops])
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype("float32")
    student_view, teacher_view = (np.asarray(v) for v in probe(faces, training=True))
    assert student_view.shape[1:3] == (40, 40) and teacher_view.shape[1:3] == (44, 44)
    np.testing.assert_allclose(teacher_view[:, 2:42, 2:42], student_view, atol=1e-4)
    assert not np.allclose(student_view, faces[:, 4:44, 4:44], atol=1.0)
    # Not training: the view is the face itself, so inference sees the centre crop.
    still = [np.asarray(v) for v in probe(faces, training=False)]
    np.testing.assert_array_equal(still[0], faces[:, 4:44, 4:44])


def test_views_stay_faces(tiny_model_path):
    from ml.engine.fastlane import _face_views_layer
    views = _face_views_layer()(40, "strong", 3, dtype="float32")
    faces = np.random.default_rng(1).integers(0, 256, (64, 48, 48, 1)).astype("float32")
    out = np.asarray(views(faces, training=True))
    assert out.shape == faces.shape and out.min() >= 0.0 and out.max() <= 255.0
    assert (np.abs(out - faces).mean(axis=(1, 2, 3)) > 1.0).all()  # every face moved
    assert np.array_equal(np.asarray(views(faces, training=False)), faces)


def test_a_run_distilled_online_is_imported_as_a_served_model(packed, tmp_path):
    from ml.engine.classifier import EmotionClassifier, read_metadata
    from ml.engine.fastlane import FastLaneConfig, import_run, train, unpack

    path, _ = packed
    teacher = train(FastLaneConfig(str(path), str(tmp_path / "teacher"), preset="tiny", crop_size=44, epochs=3,
                                   batch_size=64, warmup_epochs=1, swa_epochs=2, learning_rate=0.02))
    assert teacher.epochs == 3 and [row["epoch"] for row in teacher.history] == [1, 2, 3]
    assert teacher.history[0]["lr"] < teacher.history[1]["lr"] > teacher.history[2]["lr"]  # warm-up, cosine
    student = train(FastLaneConfig(str(path), str(tmp_path / "student"), preset="tiny", crop_size=40, epochs=2,
                                   batch_size=64, warmup_epochs=0, swa_epochs=0, learning_rate=0.02,
                                   teacher=str(tmp_path / "teacher" / "model.keras"), distill_weight=0.5))
    run = json.loads((tmp_path / "student" / "run.json").read_text())
    assert run["teachers"] == ["model.keras"] and run["backend"] == "tensorflow" and len(run["history"]) == 2

    meta_path = import_run(str(tmp_path / "student"), str(tmp_path / "imported" / "m.keras"), version="fast-test")
    meta = read_metadata(tmp_path / "imported" / "m.keras")
    assert meta["crop"] == {"size": 40} and meta["training"]["fast_lane"]["teachers"] == ["model.keras"]
    assert meta["training"]["dataset_content_hash"] == unpack(str(path))[2] and meta_path.is_file()
    faces = unpack(str(path))[0][:32]
    served = EmotionClassifier(tmp_path / "imported" / "m.keras", tta="none").predict_proba(faces)
    import keras  # the run's own float32 file, read the way inference crops
    own = keras.models.load_model(tmp_path / "student" / "model.keras", compile=False)
    expected = np.asarray(own(faces[:, 4:44, 4:44, None].astype("float32"), training=False))
    np.testing.assert_allclose(served, expected, atol=2e-2)  # float16 weights on the way back


def test_a_budget_lays_one_schedule_over_the_epochs_that_fit(packed, tmp_path):
    from ml.engine.fastlane import FastLaneConfig, train
    path, _ = packed
    result = train(FastLaneConfig(str(path), str(tmp_path / "short"), preset="tiny", crop_size=40, epochs=50,
                                  batch_size=64, warmup_epochs=2, swa_epochs=0, max_minutes=0.01))
    assert result.epochs == 2 and len(result.history) == 2  # the two timed epochs, and no room for more
    roomy = train(FastLaneConfig(str(path), str(tmp_path / "roomy"), preset="tiny", crop_size=40, epochs=4,
                                 batch_size=64, warmup_epochs=2, swa_epochs=0, max_minutes=60))
    assert roomy.epochs == 4  # never past --epochs
    assert [row["lr"] for row in roomy.history] == pytest.approx([0.08 / 3, 0.16 / 3, 0.08, 0.04])
    with pytest.raises(ValueError, match="--warmup-epochs 2"):
        train(FastLaneConfig(str(path), str(tmp_path / "bad"), preset="tiny", epochs=50, warmup_epochs=1,
                             max_minutes=5))


def test_weights_that_do_not_fit_the_network_are_refused(packed, tmp_path):
    from ml.engine.errors import ModelFileError
    from ml.engine.fastlane import FastLaneConfig, import_run, train
    path, _ = packed
    train(FastLaneConfig(str(path), str(tmp_path / "run"), preset="tiny", crop_size=40, epochs=1, batch_size=64,
                         warmup_epochs=0, swa_epochs=0))
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    run["config"]["preset"] = "small"
    (tmp_path / "run" / "run.json").write_text(json.dumps(run))
    with pytest.raises(ModelFileError, match="does not fit a 'small' network at 40 px"):
        import_run(str(tmp_path / "run"), str(tmp_path / "m.keras"), version="x")
