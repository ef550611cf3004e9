"""One watchdog pass, for cron (Celery beat runs the same every EMO7ION_WATCHDOG_INTERVAL_S)."""
import json

from django.core.management.base import BaseCommand

from analysis import services


class Command(BaseCommand):
    help = ("Hand every analysis step and ML job whose worker stopped (its heartbeat silent for "
            "EMO7ION_WATCHDOG_STALE_AFTER_S) to a worker again, under its task id; fail it after "
            "EMO7ION_WATCHDOG_MAX_ATTEMPTS tries with the reason; and send again a task whose message the "
            "broker lost (Redis only can say). Run it every minute from cron, or run `celery beat`, which "
            "schedules the same job.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true",
                            help='print {"restarted": [task ids], "resent": [...], "failed": [...], '
                                 '"broker_inspected": bool}')

    def handle(self, *args, **opts):
        report = services.watchdog_run()
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        for label, ids in (("Sent again, their worker stopped", report.restarted),
                           ("Sent again, the broker had lost them", report.resent),
                           ("Failed after their last try", report.failed)):
            if ids:
                self.stdout.write(f"{label}: {', '.join(ids)}")
        if not (report.restarted or report.resent or report.failed):
            self.stdout.write("Every running job has a live worker.")
        if not report.broker_inspected:
            self.stdout.write("(The broker cannot say which messages it holds, so none was taken for lost.)")
