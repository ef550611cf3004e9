"""The classifier on LiteRT: the same probabilities as Keras, no TensorFlow in a process that only
classifies, and derived files that are made once, remade when damaged and refused clearly when the
model itself is bad."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ml.engine.classifier import EmotionClassifier, metadata_path_for, sha256_of
from ml.engine.errors import ConfigurationError, ModelFileError
from ml.engine.litert import litert_available, resolve_runtime, twin_path

from tests.conftest import ROOT

from .test_classifier import DEFAULT_MODEL, fer_val

pytestmark = pytest.mark.skipif(not litert_available(), reason="ai-edge-litert is not installed (requirements.txt)")


@pytest.fixture(scope="module")
def faces(fer_sample_dir):
    return fer_val(fer_sample_dir, per_class=30)[0]


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_litert_gives_kerass_probabilities_on_the_shipped_model(tmp_path, faces, tta):
    keras_probs = EmotionClassifier(DEFAULT_MODEL, runtime="keras", tta=tta).predict_proba(faces)
    litert = EmotionClassifier(DEFAULT_MODEL, runtime="litert", tta=tta, litert_cache_dir=tmp_path)
    litert_probs = litert.predict_proba(faces)
    assert litert.runtime == "litert" and litert_probs.shape == keras_probs.shape
    np.testing.assert_allclose(litert_probs, keras_probs, atol=1e-5)
    # Batches of other sizes (a live frame's few faces) resize the interpreter, same answers.
    np.testing.assert_allclose(litert.predict_proba(faces[:3]), keras_probs[:3], atol=1e-5)


def test_the_derived_file_is_named_by_the_models_sha256_and_made_once(tmp_path, tiny_model_path):
    first = EmotionClassifier(tiny_model_path, runtime="litert", litert_cache_dir=tmp_path)
    twin = twin_path(tmp_path, sha256_of(tiny_model_path))
    assert twin.is_file() and [p.name for p in tmp_path.iterdir()] == [twin.name]
    made = twin.stat().st_mtime_ns
    EmotionClassifier(tiny_model_path, runtime="litert", litert_cache_dir=tmp_path)
    assert twin.stat().st_mtime_ns == made                 # reused, not converted again
    assert first.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)


def test_a_damaged_derived_file_is_made_again(tmp_path, tiny_model_path, faces):
    reference = EmotionClassifier(tiny_model_path, runtime="keras").predict_proba(faces[:20])
    twin = twin_path(tmp_path, sha256_of(tiny_model_path))
    twin.write_bytes(b"TFL3 cut short by a full disk")
    probs = EmotionClassifier(tiny_model_path, runtime="litert", litert_cache_dir=tmp_path).predict_proba(faces[:20])
    np.testing.assert_allclose(probs, reference, atol=1e-5)
    assert twin.stat().st_size > 10_000


def test_a_model_file_litert_cannot_convert_is_a_clear_error_without_folders(tmp_path, tiny_model_path):
    folder = tmp_path / "secret-server-folder"
    folder.mkdir()
    broken = folder / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not really a keras archive")
    meta = json.loads(metadata_path_for(tiny_model_path).read_text())
    meta["sha256"] = sha256_of(broken)
    metadata_path_for(broken).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="broken.keras could not be loaded") as raised:
        EmotionClassifier(broken, runtime="litert", litert_cache_dir=tmp_path / "cache")
    assert "secret-server-folder" not in str(raised.value)
    assert not any((tmp_path / "cache").glob("*.tflite"))


def test_runtime_choice():
    assert resolve_runtime("auto", "float32") == "litert"
    assert resolve_runtime("auto", "bfloat16") == "keras"      # XNNPACK has no bf16 path here
    assert resolve_runtime("keras", "float32") == "keras"
    with pytest.raises(ConfigurationError, match="float32 models only"):
        resolve_runtime("litert", "bfloat16")
    with pytest.raises(ConfigurationError, match="Unknown classifier runtime"):
        resolve_runtime("onnx", "float32")


def test_a_process_that_classifies_on_litert_never_imports_tensorflow(tmp_path, faces):
    # Derive the twin here first: the child process that converts is the one place TensorFlow may load.
    EmotionClassifier(DEFAULT_MODEL, runtime="litert", litert_cache_dir=tmp_path)
    np.save(tmp_path / "faces.npy", faces[:8])
    script = f"""
import sys, numpy as np
from ml.engine.classifier import EmotionClassifier
clf = EmotionClassifier({str(DEFAULT_MODEL)!r}, runtime="auto", litert_cache_dir={str(tmp_path)!r})
probs = clf.predict_proba(np.load({str(tmp_path / 'faces.npy')!r}))
assert clf.runtime == "litert" and probs.shape == (8, 7), (clf.runtime, probs.shape)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))
print('imported:', heavy)
sys.exit(1 if heavy else 0)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "imported: []" in done.stdout


def test_the_command_line_derives_a_twin(tmp_path, tiny_model_path):
    out = tmp_path / "tiny.tflite"
    done = subprocess.run([sys.executable, "-m", "ml.engine.litert", str(tiny_model_path), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.is_file(), done.stdout + done.stderr[-1000:]
    assert subprocess.run([sys.executable, "-m", "ml.engine.litert"], cwd=ROOT, capture_output=True).returncode == 2
