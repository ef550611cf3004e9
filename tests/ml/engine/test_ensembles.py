"""Ensembles: the mean of the members' calibrated probabilities, as a teacher and as a measurement."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ml.engine.classifier import EmotionClassifier, metadata_path_for
from ml.engine.errors import ModelFileError


@pytest.fixture(scope="module")
def second_model(tmp_path_factory, tiny_model_path):
    """The tiny model again, with a temperature in its metadata: a member that reads differently."""
    import shutil
    folder = tmp_path_factory.mktemp("second")
    path = folder / "second.keras"
    shutil.copy(tiny_model_path, path)
    meta = json.loads(metadata_path_for(tiny_model_path).read_text())
    meta["version"] = "second"
    meta["calibration"] = {"temperature": 3.0}
    metadata_path_for(path).write_text(json.dumps(meta))
    return path


def test_the_ensemble_is_the_mean_of_its_calibrated_members(tiny_model_path, second_model, fer_sample_dir):
    from ml.engine.datasets import read_dataset
    from ml.engine.ensembles import ensemble_probabilities, load_members

    images = read_dataset(str(fer_sample_dir), limit_per_class=2).images
    members = load_members([str(tiny_model_path), str(second_model)], tta="none", face_size=48)
    first = EmotionClassifier(tiny_model_path, tta="none").predict_proba(images)
    second = EmotionClassifier(second_model, tta="none").predict_proba(images)
    assert not np.allclose(first, second, atol=1e-3)  # the temperature is applied: members differ
    np.testing.assert_allclose(ensemble_probabilities(members, images), (first + second) / 2, atol=1e-6)


def test_the_measurement_reports_each_member_and_the_ensemble(tiny_model_path, second_model, fer_sample_dir):
    from ml.engine.ensembles import measure

    result = measure([str(tiny_model_path), str(second_model)], str(fer_sample_dir), tta="none")
    assert set(result["members"]) == {tiny_model_path.name, "second.keras"}
    # A temperature does not move the most probable class: members agree on accuracy, and so does the mean.
    accuracies = {m["accuracy"] for m in result["members"].values()}
    assert accuracies == {result["ensemble"]["accuracy"]}
    assert result["faces"] > 0 and 0.0 <= result["ensemble"]["ece"] <= 1.0


def test_a_member_that_classifies_something_else_is_refused(tiny_model_path, tmp_path):
    import shutil
    path = tmp_path / "six.keras"
    shutil.copy(tiny_model_path, path)
    meta = json.loads(metadata_path_for(tiny_model_path).read_text())
    meta["labels"] = meta["labels"][:6] + ["contempt"]
    metadata_path_for(path).write_text(json.dumps(meta))
    from ml.engine.ensembles import load_members
    with pytest.raises(ModelFileError, match="six.keras does not classify 48 px faces"):
        load_members([str(tiny_model_path), str(path)], tta="none", face_size=48)
    with pytest.raises(ModelFileError, match="at least one model"):
        load_members([], tta="none", face_size=48)
