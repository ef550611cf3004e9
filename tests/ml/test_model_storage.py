"""Model files in the default storage (the moto S3 server here, S3 in production): a registered
version is stored under its sha256, and a worker whose model directory is empty fetches it once into
its own cache, checked by sha256 before use."""
from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import numpy as np
import pytest
from django.conf import settings

from ml import registry, runtime
from ml.engine.classifier import sha256_of
from ml.engine.errors import ModelFileError

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def trainer_copy(tmp_path) -> Path:
    """The shipped model (a real, small .keras file and its metadata) on the "trainer" host's disk."""
    shipped = Path(settings.EMO7ION_DEFAULT_MODEL)
    folder = tmp_path / "trainer-models"
    folder.mkdir()
    for path in (shipped, shipped.with_suffix(".json")):
        shutil.copy(path, folder / path.name)
    return folder / shipped.name


@pytest.fixture
def s3(s3_storage):
    return boto3.client("s3", endpoint_url=s3_storage["endpoint"], aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture
def empty_worker(settings, tmp_path):
    """Another host: its own (empty) cache folder, and no model loaded in this process yet."""
    def become() -> Path:
        cache = tmp_path / "worker-cache"
        settings.EMO7ION_CACHE_DIR = cache
        runtime._verified.clear()
        runtime._classifier.cache_clear()
        return cache
    yield become
    runtime._verified.clear()
    runtime._classifier.cache_clear()


def bucket_keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_registered_version_is_stored_under_its_sha256(trainer_copy, s3, s3_storage):
    mv = registry.register_model_file(trainer_copy, name="v-stored")
    sha = sha256_of(trainer_copy)
    assert mv.sha256 == sha
    expected = [f"models/{sha}/{trainer_copy.name}", f"models/{sha}/{trainer_copy.with_suffix('.json').name}"]
    assert bucket_keys(s3, s3_storage["bucket"]) == sorted(expected)
    assert mv.metadata["storage"] == {"model": expected[0], "metadata": expected[1]}
    body = s3.get_object(Bucket=s3_storage["bucket"], Key=expected[0])["Body"].read()
    assert body == trainer_copy.read_bytes()

    registry.register_model_file(trainer_copy, name="v-stored-again")  # the same file: stored once
    assert bucket_keys(s3, s3_storage["bucket"]) == sorted(expected)


def test_a_worker_with_an_empty_model_directory_runs_a_version_from_storage(trainer_copy, s3_storage,
                                                                             empty_worker):
    mv = registry.register_model_file(trainer_copy, name="v-remote")
    shutil.rmtree(trainer_copy.parent)  # this host never had the trainer's files
    cache = empty_worker()
    assert not cache.exists()

    classifier = runtime.get_classifier(mv)
    local = runtime.local_model_path(mv)
    assert local == cache / "models" / mv.sha256 / trainer_copy.name  # the cache is keyed by the sha256
    assert sha256_of(local) == mv.sha256 and local.with_suffix(".json").is_file()
    assert classifier.sha256 == mv.sha256
    probs = classifier.predict_proba(np.full((2, classifier.input_size, classifier.input_size), 128, np.uint8))
    assert probs.shape == (2, 7)
    # Workers classify on LiteRT (EMO7ION_CLASSIFIER_RUNTIME=auto); its derived file lives in this host's cache.
    assert settings.EMO7ION_CLASSIFIER_RUNTIME == "auto" and classifier.runtime == "litert"
    assert [p.name for p in (cache / "litert").iterdir()] == [f"{mv.sha256}.tflite"]


def test_the_cached_copy_is_used_without_downloading_again(trainer_copy, s3, s3_storage, empty_worker):
    mv = registry.register_model_file(trainer_copy, name="v-cached")
    shutil.rmtree(trainer_copy.parent)
    empty_worker()
    first = runtime.local_model_path(mv)
    for key in bucket_keys(s3, s3_storage["bucket"]):
        s3.delete_object(Bucket=s3_storage["bucket"], Key=key)
    runtime._verified.clear()  # a new worker process on the same host: only the disk cache is left
    assert runtime.local_model_path(mv) == first


def test_a_corrupted_download_is_refused_clearly(trainer_copy, s3, s3_storage, empty_worker):
    mv = registry.register_model_file(trainer_copy, name="v-corrupt")
    shutil.rmtree(trainer_copy.parent)
    key = mv.metadata["storage"]["model"]
    data = bytearray(s3.get_object(Bucket=s3_storage["bucket"], Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in transit or at rest
    s3.put_object(Bucket=s3_storage["bucket"], Key=key, Body=bytes(data))
    cache = empty_worker()

    with pytest.raises(ModelFileError, match=r"v-corrupt.*corrupt.*sha256"):
        runtime.get_classifier(mv)
    folder = cache / "models" / mv.sha256
    assert not list(folder.glob("*.keras")) and not list(folder.glob("*.part"))  # nothing half-trusted is left


def test_a_version_that_is_nowhere_says_so(trainer_copy, s3, s3_storage, empty_worker):
    mv = registry.register_model_file(trainer_copy, name="v-gone")
    shutil.rmtree(trainer_copy.parent)
    for key in bucket_keys(s3, s3_storage["bucket"]):
        s3.delete_object(Bucket=s3_storage["bucket"], Key=key)
    empty_worker()
    with pytest.raises(ModelFileError, match="v-gone is not on this host .* and not in the storage"):
        runtime.local_model_path(mv)


def test_the_registering_host_reads_its_own_file(trainer_copy, s3_storage, empty_worker):
    mv = registry.register_model_file(trainer_copy, name="v-local")
    cache = empty_worker()
    assert runtime.local_model_path(mv) == trainer_copy  # no download where the file already is
    assert not (cache / "models").exists()
