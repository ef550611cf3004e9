"""Dataset readers: class-folder trees, zips of them, FER2013 CSV, and audit manifests.

Every reader returns a `FaceDataset`: uint8 grey images (N, H, W), integer labels in
EMOTIONS order (-1 for unlabelled), the split of each image and any per-image attributes.
Images are decoded here once; nothing downstream re-reads files.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import DatasetError
from .labels import EMOTIONS, normalise_label

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".webp"}
# Folder names that mean a split (lower-cased), e.g. FER2013 exported as Training/ PublicTest/ PrivateTest/.
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "publictest": "val", "test": "test", "testing": "test", "privatetest": "test"}
FACE_SIZE = 48


@dataclass
class FaceDataset:
    images: np.ndarray  # (N, H, W) uint8 grey
    labels: np.ndarray  # (N,) int; -1 = unlabelled
    splits: np.ndarray  # (N,) str: train / val / test / all
    paths: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)  # column -> value per image
    skipped_labels: dict[str, int] = field(default_factory=dict)  # labels the model does not know -> count
    unreadable: list[str] = field(default_factory=list)
    content_hash: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, mask: np.ndarray) -> "FaceDataset":
        idx = np.flatnonzero(mask)
        return FaceDataset(
            images=self.images[idx], labels=self.labels[idx], splits=self.splits[idx],
            paths=[self.paths[i] for i in idx] if self.paths else [],
            attributes={k: [v[i] for i in idx] for k, v in self.attributes.items()},
            skipped_labels=dict(self.skipped_labels), unreadable=list(self.unreadable),
            content_hash=self.content_hash,
        )

    def split(self, name: str) -> "FaceDataset":
        return self.subset(self.splits == name)

    def split_if_present(self, name: str) -> "FaceDataset":
        """The `name` split where the data has one (a train/ val/ layout), else all of it."""
        return self.split(name) if (self.splits == name).any() else self

    def class_counts(self) -> dict[str, int]:
        return {label: int((self.labels == i).sum()) for i, label in enumerate(EMOTIONS)}


def decode_grey(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes to a grey uint8 array, or raise DatasetError naming the file."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if arr is None:
        raise DatasetError(f"{name} is not an image that can be decoded")
    return arr


def _to_face(grey: np.ndarray, size: int) -> np.ndarray:
    if grey.shape != (size, size):
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return grey


class _Source:
    """Uniform access to files in a folder or a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() and zipfile.is_zipfile(path) else None
        if self.zip is None and not path.is_dir():
            raise DatasetError(f"{path} is neither a folder, a zip archive nor a CSV file")

    def names(self) -> list[str]:
        if self.zip:
            return sorted(n for n in self.zip.namelist() if not n.endswith("/") and "__MACOSX" not in n)
        return sorted(str(p.relative_to(self.path)).replace(os.sep, "/") for p in self.path.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        if self.zip:
            return self.zip.read(name)
        return (self.path / name).read_bytes()


def _hash_update(h, name: str, data: bytes) -> None:
    h.update(name.encode())
    h.update(hashlib.sha256(data).digest())


def _read_face(source: _Source, name: str, shown_as: str, h, size: int, face_cropper) -> np.ndarray | None:
    """One image file of a dataset as a face (cropped by `face_cropper` when given), its name and bytes
    added to the content hash `h`; None when it cannot be decoded. `shown_as` names it in errors and hashes."""
    data = source.read(name)
    try:
        grey = decode_grey(data, shown_as)
    except DatasetError:
        return None
    if face_cropper is not None:
        grey = face_cropper(grey)
    _hash_update(h, shown_as, data)
    return _to_face(grey, size)


def read_dataset(path: str | os.PathLike, size: int = FACE_SIZE, limit_per_class: int | None = None,
                 face_cropper=None) -> FaceDataset:
    """Read any supported dataset format, chosen by content.

    `face_cropper(grey) -> grey` may crop a detected face out of larger photos (audit sets);
    FER-style sets are already crops and are only resized.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if path.is_file() and path.suffix.lower() == ".csv":
        return _read_csv_file(path, size, face_cropper)
    source = _Source(path)
    names = source.names()
    manifests = [n for n in names if n.rsplit("/", 1)[-1].lower() == "manifest.csv"]
    if manifests:
        return _read_manifest(source, min(manifests, key=len), size, face_cropper)
    csvs = [n for n in names if n.lower().endswith(".csv")]
    images = [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    if not images and csvs:
        return _read_fer_csv(io.StringIO(source.read(csvs[0]).decode("utf-8")), size, csvs[0])
    return _read_class_folders(source, images, size, limit_per_class, face_cropper)


def _split_and_label(parts: list[str]) -> tuple[str, str]:
    """From a path's folders, find the split (train/val/test, else 'all') and the class folder."""
    folders = [p for p in parts[:-1] if p]
    split = "all"
    for p in folders:
        split = SPLIT_ALIASES.get(p.lower(), split)
    return split, (folders[-1] if folders else "")


def _read_class_folders(source: _Source, names: list[str], size: int, limit_per_class: int | None,
                        face_cropper) -> FaceDataset:
    if not names:
        raise DatasetError(f"{source.path} contains no images (expected <label>/*.jpg folders, "
                           "a FER2013 CSV or an audit manifest.csv)")
    images, labels, splits, paths, unreadable = [], [], [], [], []
    skipped: dict[str, int] = {}
    per_class: dict[tuple[str, int], int] = {}
    h = hashlib.sha256()
    for name in names:
        split, folder = _split_and_label(name.split("/"))
        label = normalise_label(folder)
        if label is None:
            skipped[folder or "(no folder)"] = skipped.get(folder or "(no folder)", 0) + 1
            continue
        idx = EMOTIONS.index(label)
        if limit_per_class is not None:
            key = (split, idx)
            if per_class.get(key, 0) >= limit_per_class:
                continue
            per_class[key] = per_class.get(key, 0) + 1
        face = _read_face(source, name, name, h, size, face_cropper)
        if face is None:
            unreadable.append(name)
            continue
        images.append(face)
        labels.append(idx)
        splits.append(split)
        paths.append(name)
    if not images:
        known = ", ".join(EMOTIONS)
        found = ", ".join(sorted(skipped)) or "none"
        raise DatasetError(f"No usable images in {source.path}: class folders must be emotions ({known}); "
                           f"found folders: {found}" + (f"; {len(unreadable)} unreadable files" if unreadable else ""))
    return FaceDataset(np.stack(images), np.asarray(labels, np.int64), np.asarray(splits), paths,
                       skipped_labels=skipped, unreadable=unreadable, content_hash=h.hexdigest())


def _read_csv_file(path: Path, size: int, face_cropper) -> FaceDataset:
    with open(path, newline="", encoding="utf-8") as fh:
        header = fh.readline()
        fh.seek(0)
        cols = [c.strip().lower() for c in header.split(",")]
        if "pixels" in cols:
            return _read_fer_csv(fh, size, str(path))
        if "path" in cols:
            return _read_manifest(_Source(path.parent), path.name, size, face_cropper)
    raise DatasetError(f"{path} is a CSV but neither FER2013 (emotion,pixels,Usage) nor a manifest (path,label,...)")


def _read_fer_csv(fh, size: int, name: str) -> FaceDataset:
    reader = csv.DictReader(fh)
    fields = {f.strip().lower(): f for f in (reader.fieldnames or [])}
    if "pixels" not in fields or "emotion" not in fields:
        raise DatasetError(f"{name}: a FER2013 CSV needs the columns emotion,pixels[,Usage]")
    usage_map = {"training": "train", "publictest": "val", "privatetest": "test"}
    images, labels, splits = [], [], []
    skipped: dict[str, int] = {}
    h = hashlib.sha256()
    for row_no, row in enumerate(reader, start=2):
        label = normalise_label(row[fields["emotion"]])
        if label is None:
            skipped[row[fields["emotion"]]] = skipped.get(row[fields["emotion"]], 0) + 1
            continue
        try:
            pixels = np.asarray(row[fields["pixels"]].split(), dtype=np.uint8)
        except ValueError as exc:
            raise DatasetError(f"{name} line {row_no}: pixels are not numbers 0-255") from exc
        side = int(round(np.sqrt(pixels.size)))
        if side * side != pixels.size or side == 0:
            raise DatasetError(f"{name} line {row_no}: {pixels.size} pixels do not make a square image")
        h.update(pixels.tobytes())
        images.append(_to_face(pixels.reshape(side, side), size))
        labels.append(EMOTIONS.index(label))
        usage = row.get(fields.get("usage", ""), "") or ""
        splits.append(usage_map.get(usage.strip().lower(), "all"))
    if not images:
        raise DatasetError(f"{name} has no rows with a known emotion")
    return FaceDataset(np.stack(images), np.asarray(labels, np.int64), np.asarray(splits),
                       skipped_labels=skipped, content_hash=h.hexdigest())


def _read_manifest(source: _Source, manifest_name: str, size: int, face_cropper) -> FaceDataset:
    text = source.read(manifest_name).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "path" not in fields or "label" not in fields:
        raise DatasetError(f"{manifest_name} must have the columns path,label[,attributes...]; found {', '.join(fields)}")
    attr_cols = [f for f in fields if f not in ("path", "label")]
    base = manifest_name.rsplit("/", 1)[0] + "/" if "/" in manifest_name else ""
    available = set(source.names())
    images, labels, paths, missing, unreadable = [], [], [], [], []
    attributes: dict[str, list[str]] = {c: [] for c in attr_cols}
    skipped: dict[str, int] = {}
    h = hashlib.sha256()
    for row in reader:
        rel = (row.get("path") or "").strip()
        name = base + rel
        if name not in available:
            missing.append(rel)
            continue
        raw_label = (row.get("label") or "").strip()
        if raw_label:
            label = normalise_label(raw_label)
            if label is None:
                skipped[raw_label] = skipped.get(raw_label, 0) + 1
                continue
            idx = EMOTIONS.index(label)
        else:
            idx = -1
        face = _read_face(source, name, rel, h, size, face_cropper)
        if face is None:
            unreadable.append(rel)
            continue
        images.append(face)
        labels.append(idx)
        paths.append(rel)
        for c in attr_cols:
            attributes[c].append((row.get(c) or "").strip() or "unknown")
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DatasetError(f"{len(missing)} files named in {manifest_name} are missing: {shown}")
    if not images:
        raise DatasetError(f"{manifest_name} lists no readable images with a known label")
    return FaceDataset(np.stack(images), np.asarray(labels, np.int64), np.asarray(["all"] * len(images)), paths,
                       attributes=attributes, skipped_labels=skipped, unreadable=unreadable,
                       content_hash=h.hexdigest())


# --- Choosing the split to evaluate on ------------------------------------------------------------


def split_dirs(path: Path) -> dict[str, Path]:
    """Split name -> top-level folder, for a folder laid out as train/ val/ test/."""
    path = Path(path)
    if not path.is_dir():
        return {}
    found = {}
    for child in sorted(path.iterdir()):
        key = SPLIT_ALIASES.get(child.name.lower())
        if child.is_dir() and key and key not in found:
            found[key] = child
    return found


def split_folder(path: Path, split: str) -> tuple[Path | None, str]:
    """The folder to read for `split` ("" = the default: val when the set has other splits too),
    and the split it holds; (None, "") when the set is not laid out in split folders."""
    dirs = split_dirs(path)
    if split in dirs:
        return dirs[split], split
    if not split and "val" in dirs and len(dirs) > 1:
        return dirs["val"], "val"
    return None, ""


def choose_split(data: FaceDataset, split: str) -> tuple[FaceDataset, str, str]:
    """The images to evaluate on, the split's name and a note that says why ("" = the default:
    val when the set has other splits too, else test, else every image)."""
    present = sorted(set(data.splits.tolist()))
    if split:
        if split == "all":
            return data, "all", "evaluated on every image (all splits)"
        if split not in present:
            raise DatasetError(f"This set has no {split!r} split; it has: {', '.join(present)}")
        return data.split(split), split, f"evaluated on the {split} split, as asked"
    if "val" in present and len(present) > 1:
        return data.split("val"), "val", (f"this set has splits {', '.join(present)}: evaluated on the val split "
                                          "by default (ask for another with --split)")
    if len(present) == 1:
        return data, present[0], "evaluated on every image"
    if "test" in present:
        return data.split("test"), "test", "no val split: evaluated on the test split"
    return data, "all", "evaluated on every image"
