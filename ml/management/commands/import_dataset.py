from ml import services
from ml.management.base import JsonCommand


def dataset_json(ds) -> dict:
    return {"id": ds.pk, "name": ds.name, "kind": ds.kind, "format": ds.format, "n_images": ds.n_images,
            "labelled": ds.labelled, "class_counts": ds.class_counts, "split_counts": ds.split_counts,
            "attributes": ds.attributes, "skipped_labels": ds.skipped_labels,
            "unreadable_files": ds.unreadable_files, "content_hash": ds.content_hash,
            "source_path": ds.source_path, "file": ds.file.name if ds.file else ""}


class Command(JsonCommand):
    help = ("Import a dataset, validated by content: a class-folder tree (<label>/*.jpg, optionally under "
            "train/ val/ test/), a zip of one, a FER2013 CSV (emotion,pixels,Usage) or an audit manifest "
            "(manifest.csv: path,label,<attribute columns>; in a folder or a zip). Folders are imported in "
            "place (nothing is copied).")

    def add_arguments(self, parser):
        parser.add_argument("path", help="folder, zip or CSV")
        parser.add_argument("--name", required=True, help="unique dataset name")
        parser.add_argument("--kind", choices=["training", "audit"], default=None,
                            help="default: audit when the set has group attributes, else training")
        parser.add_argument("--skip-invalid", action="store_true",
                            help="skip images with unknown labels or that cannot be decoded (listed) instead of "
                                 "refusing the whole set")
        super().add_arguments(parser)

    def run(self, *, path, name, kind, skip_invalid, **options) -> dict:
        self.log(f"reading {path} ...")
        ds = services.dataset_import(path_or_file=path, name=name, kind=kind, skip_invalid=skip_invalid)
        return dataset_json(ds)

    def summary(self, r: dict) -> str:
        classes = ", ".join(f"{k} {v}" for k, v in r["class_counts"].items() if v)
        lines = [f"Dataset {r['name']} ({r['kind']}, {r['format']}): {r['n_images']} images",
                 f"  splits: {r['split_counts']}"]
        if classes:
            lines.append(f"  classes: {classes}")
        for attr, groups in r["attributes"].items():
            lines.append(f"  {attr}: {groups}")
        if r["skipped_labels"] or r["unreadable_files"]:
            lines.append(f"  skipped: labels {r['skipped_labels']}, unreadable {len(r['unreadable_files'])}")
        return "\n".join(lines)
