"""Importing datasets: every supported format, validated by content, and clear refusals."""
import json
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from ml import services
from ml.models import Dataset
from tests.conftest import shared_path
from tests.ml.conftest import zip_folder

pytestmark = pytest.mark.django_db


def _import_json(*args) -> dict:
    import io
    out = io.StringIO()
    call_command("import_dataset", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_class_folder_tree_in_place(fer_small):
    r = _import_json(str(fer_small), "--name", "fer-small")
    assert r["kind"] == "training" and r["format"] == "class_folders"
    assert r["n_images"] == 7 * 50
    assert r["split_counts"] == {"train": 280, "val": 70}
    assert r["class_counts"] == {c: 50 for c in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}
    ds = Dataset.objects.get(name="fer-small")
    assert ds.source_path == str(fer_small) and not ds.file  # imported in place, nothing copied
    assert len(ds.samples) == 7 * 8 and ds.samples[0]["png"]  # sample grid made at import
    assert ds.labelled and ds.content_hash


def test_same_content_same_name_is_idempotent_other_content_is_refused(fer_small, tmp_path):
    first = services.dataset_import(path_or_file=fer_small, name="fer-small")
    again = services.dataset_import(path_or_file=fer_small, name="fer-small")
    assert again.pk == first.pk
    other = tmp_path / "other" / "happy"
    other.mkdir(parents=True)
    shutil.copy(next((fer_small / "train" / "happy").glob("*.jpg")), other / "a.jpg")
    with pytest.raises(services.DatasetImportError, match="already exists"):
        services.dataset_import(path_or_file=other.parent, name="fer-small")


def test_zip_of_class_folders_uploaded(fer_small, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    z = zip_folder(fer_small, tmp_path / "fer.zip")
    ds = services.dataset_import(path_or_file=SimpleUploadedFile("fer.zip", z.read_bytes()), name="fer-zip")
    assert ds.format == "class_folders" and ds.n_images == 350 and ds.split_counts["val"] == 70
    assert ds.file.name.startswith("datasets/") and not ds.source_path
    assert (tmp_path / "media" / ds.file.name).is_file()


def test_fer2013_csv(fer_csv):
    r = _import_json(str(fer_csv), "--name", "fer-csv")
    assert r["format"] == "fer_csv" and r["n_images"] == 42
    assert r["split_counts"] == {"train": 21, "val": 21}
    assert all(v == 6 for v in r["class_counts"].values())


def test_audit_zip_with_manifest_and_empty_labels(audit_zip):
    r = _import_json(str(audit_zip), "--name", "utk-30")
    assert r["kind"] == "audit" and r["format"] == "manifest"
    assert r["labelled"] is False and r["n_images"] == 30
    assert set(r["attributes"]) == {"gender", "race"}
    assert sum(r["attributes"]["gender"].values()) == 30


def test_shared_labelled_audit_set_in_place():
    r = _import_json(str(shared_path("datasets", "audit", "jaffe-tfeid")), "--name", "jaffe-tfeid")
    assert r["kind"] == "audit" and r["labelled"] is True and r["n_images"] == 423
    assert r["attributes"]["source"] == {"jaffe": 213, "tfeid": 210}
    assert r["attributes"]["population"] == {"japanese": 213, "taiwanese": 210}


# --- bad input: a clear message, non-zero exit, nothing recorded

def _refused(path, message, **kwargs):
    with pytest.raises(CommandError, match=message):
        call_command("import_dataset", str(path), "--name", "bad", **kwargs)
    assert not Dataset.objects.filter(name="bad").exists()


def test_wrong_format(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    _refused(p, "neither a folder, a zip archive nor a CSV")
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("a,b\n1,2\n")
    _refused(csv_path, "neither FER2013")


def test_unknown_labels_are_refused_unless_skipped(fer_small, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(fer_small / "val", tree)
    (tree / "contempt").mkdir()
    for i, f in enumerate(sorted((tree / "happy").glob("*.jpg"))[:3]):
        shutil.copy(f, tree / "contempt" / f"c{i}.jpg")
    _refused(tree, r"unknown labels 'contempt' \(3 images\)")
    ds = services.dataset_import(path_or_file=tree, name="skipping", skip_invalid=True)
    assert ds.skipped_labels == {"contempt": 3} and ds.n_images == 70


def test_only_unknown_labels(tmp_path, fer_small):
    tree = tmp_path / "tree" / "bored"
    tree.mkdir(parents=True)
    shutil.copy(next((fer_small / "val" / "sad").glob("*.jpg")), tree / "x.jpg")
    _refused(tree.parent, "class folders must be emotions")


def test_unreadable_image(tmp_path, fer_small):
    tree = tmp_path / "tree"
    shutil.copytree(fer_small / "val", tree)
    (tree / "happy" / "broken.jpg").write_bytes(b"this is not a jpeg")
    _refused(tree, r"1 file is not an image that can be decoded: happy/broken.jpg")
    ds = services.dataset_import(path_or_file=tree, name="skip-broken", skip_invalid=True)
    assert ds.unreadable_files == ["happy/broken.jpg"] and ds.n_images == 70


def test_manifest_naming_missing_files(tmp_path, fer_small):
    folder = tmp_path / "audit"
    folder.mkdir()
    shutil.copy(next((fer_small / "val" / "sad").glob("*.jpg")), folder / "a.jpg")
    (folder / "manifest.csv").write_text("path,label,gender\na.jpg,sad,female\nmissing.jpg,happy,male\n")
    _refused(folder, "1 files named in manifest.csv are missing: missing.jpg")


def test_empty_set(tmp_path):
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    _refused(tmp_path / "empty", "contains no images")
    empty_zip = tmp_path / "empty.zip"
    import zipfile
    zipfile.ZipFile(empty_zip, "w").close()
    _refused(empty_zip, "contains no images")


def test_kind_mismatch(audit_zip, fer_small):
    _refused(audit_zip, "a training set needs a label for every image", kind="training")
    _refused(fer_small, "an audit set needs a manifest.csv", kind="audit")


def test_json_error_on_stdout(tmp_path):
    import io
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_dataset", str(tmp_path / "nope"), "--name", "x", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"error": f"{tmp_path / 'nope'} does not exist"}


def test_refused_upload_keeps_nothing_in_storage(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    with pytest.raises(services.DatasetImportError, match="not an image|no images|neither"):
        services.dataset_import(path_or_file=SimpleUploadedFile("junk.zip", b"PK\x03\x04 not really"), name="junk")
    assert not list((tmp_path / "media").rglob("*.*"))
