"""Delete raw footage past each organisation's retention period (aggregates and reports stay)."""
import json

from django.core.management.base import BaseCommand

from analysis import services


class Command(BaseCommand):
    help = ("Delete the raw files of footage older than its organisation's footage_retention_days, with their "
            "cached copies and report thumbnails. Analyses, observations and timelines are kept. Run it daily "
            "(cron), or run `celery beat`, which schedules the same job.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
        parser.add_argument("--json", action="store_true", help='print {"footage_ids": [...], "dry_run": bool}')

    def handle(self, *args, **opts):
        ids = services.footage_apply_retention(dry_run=opts["dry_run"])
        if opts["json"]:
            self.stdout.write(json.dumps({"footage_ids": ids, "dry_run": opts["dry_run"]}))
        else:
            verb = "Would delete" if opts["dry_run"] else "Deleted"
            self.stdout.write(f"{verb} the raw files of {len(ids)} footage" + (f": {ids}" if ids else "."))
