"""Retention: raw footage goes after the organisation's retention period; aggregates stay."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import Organisation

from .. import media
from ..models import Footage
from ..signals import footage_file_deleted
from .analyses import UNFINISHED, analysis_fail
from .watchdog import analysis_silent_for

log = logging.getLogger(__name__)


def _stop_stuck_analyses(footage: Footage, now) -> None:
    """Retention is not held up by an analysis no worker works on: one silent for longer than the watchdog
    waits (EMO7ION_WATCHDOG_STALE_AFTER_S) is failed, with the reason, before its footage goes. One that a
    worker is analysing right now keeps the file until the next run."""
    for analysis in footage.analyses.filter(status__in=UNFINISHED):
        silent = analysis_silent_for(analysis, now=now)
        if silent > settings.EMO7ION_WATCHDOG_STALE_AFTER_S:
            analysis_fail(analysis=analysis, reason=(
                "Stopped: the raw footage reached the end of its organisation's retention period and was deleted "
                f"before this analysis finished (no worker had worked on it for {silent / 60:.0f} minutes)."))


def footage_delete_file(*, footage: Footage) -> bool:
    """Delete a footage's raw file and its local cached copy, keeping the record, its analyses,
    observations and timeline; whatever else was made from its frames (the reports' thumbnails)
    goes with it through `footage_file_deleted`. Footage still being analysed is left alone.
    Returns whether anything was deleted."""
    if footage.file_deleted_at or not footage.file:
        return False
    if footage.analyses.filter(status__in=UNFINISHED).exists():
        return False
    name = footage.file.name
    default_storage.delete(name)
    # The sha-keyed cache may serve an identical upload elsewhere: keep it while one still needs it.
    still_needed = Footage.objects.filter(sha256=footage.sha256, file_deleted_at__isnull=True).exclude(pk=footage.pk)
    if footage.sha256 and not still_needed.exists():
        media.cached_path(footage.sha256, name).unlink(missing_ok=True)
    footage.file_deleted_at = timezone.now()
    footage.save(update_fields=["file_deleted_at"])
    footage_file_deleted.send(sender=Footage, footage=footage)
    log.info("Retention: deleted the raw file of footage %s (%s)", footage.pk, name)
    return True


def footage_cache_prune() -> media.PruneResult:
    """Keep the local footage cache under EMO7ION_CACHE_MAX_BYTES (run daily with retention)."""
    return media.prune_cache(max_bytes=settings.EMO7ION_CACHE_MAX_BYTES)


def footage_apply_retention(*, now=None, dry_run: bool = False) -> list[int]:
    """Delete the raw files of footage older than its organisation's `footage_retention_days`.
    Returns the ids of the footage whose files were (or, with dry_run, would be) deleted."""
    now = now or timezone.now()
    done: list[int] = []
    for org in Organisation.objects.filter(footage_retention_days__isnull=False):
        due = Footage.objects.filter(project__organisation=org, file_deleted_at__isnull=True,
                                     created_at__lt=now - timedelta(days=org.footage_retention_days)).exclude(file="")
        for footage in due.order_by("pk"):
            if dry_run:
                done.append(footage.pk)
                continue
            _stop_stuck_analyses(footage, now)
            if footage_delete_file(footage=footage):
                done.append(footage.pk)
    return done
