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
from .analyses import UNFINISHED

log = logging.getLogger(__name__)


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
            elif footage_delete_file(footage=footage):
                done.append(footage.pk)
    return done
