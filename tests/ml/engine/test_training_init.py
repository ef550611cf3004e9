"""Fine-tuning in the engine: a model to start from that cannot be used is refused with the reason."""
from __future__ import annotations

import pytest

from ml.engine.errors import ModelFileError
from ml.engine.training import TrainingConfig, train


def _config(fer_sample_dir, out, init_model, preset):
    return TrainingConfig(train_data=str(fer_sample_dir), output_dir=str(out), preset=preset, epochs=1,
                          batch_size=32, learning_rate=0.01, warmup_epochs=0, limit_per_class=5,
                          augmentation="none", init_model=str(init_model))


def test_a_model_of_another_preset_is_refused(tiny_model_path, fer_sample_dir, tmp_path):
    with pytest.raises(ModelFileError, match="is not a 'small' network; fine-tune it with its own preset"):
        train(_config(fer_sample_dir, tmp_path / "out", tiny_model_path, "small"))


def test_a_file_that_is_not_a_model_is_refused(fer_sample_dir, tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a keras archive")
    with pytest.raises(ModelFileError, match="could not be loaded"):
        train(_config(fer_sample_dir, tmp_path / "out", junk, "tiny"))
