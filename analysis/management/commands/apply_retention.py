"""Delete raw footage past each organisation's retention period (aggregates and reports stay)."""
import json

from django.core.management.base import BaseCommand
from django.template.defaultfilters import filesizeformat

from analysis import services


class Command(BaseCommand):
    help = ("Delete the raw files of footage older than its organisation's footage_retention_days, with their "
            "cached copies and report thumbnails, then trims the local footage cache to EMO7ION_CACHE_MAX_BYTES. "
            "Analyses, observations and timelines are kept. Run it daily "
            "(cron), or run `celery beat`, which schedules the same job.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
        parser.add_argument("--json", action="store_true", help='print {"footage_ids": [...], "dry_run": bool}')

    def handle(self, *args, **opts):
        ids = services.footage_apply_retention(dry_run=opts["dry_run"])
        pruned = None if opts["dry_run"] else services.footage_cache_prune()
        if opts["json"]:
            out = {"footage_ids": ids, "dry_run": opts["dry_run"]}
            if pruned is not None:
                out["cache"] = {"removed": len(pruned.removed), "freed_bytes": pruned.freed_bytes,
                                "kept_bytes": pruned.kept_bytes}
            self.stdout.write(json.dumps(out))
        else:
            verb = "Would delete" if opts["dry_run"] else "Deleted"
            self.stdout.write(f"{verb} the raw files of {len(ids)} footage" + (f": {ids}" if ids else "."))
            if pruned is not None:
                self.stdout.write(f"Footage cache: removed {len(pruned.removed)} copies "
                                  f"({filesizeformat(pruned.freed_bytes)}); {filesizeformat(pruned.kept_bytes)} kept.")
