"""Signal receivers (connected in apps.py): an analysis whose results are stored gets its key-moment
thumbnails rendered and stored, in the worker that finalizes it, before it shows as succeeded (never in a page request); a footage whose raw file was
deleted loses them."""
import logging

from django.db import transaction

from . import services, thumbnails

log = logging.getLogger(__name__)


def render_thumbnails(sender, analysis, **kwargs):
    # The results are already stored: a frame that cannot be read costs the report a thumbnail (it
    # shows a placeholder), never the worker its result.
    try:
        with transaction.atomic():  # a savepoint: a database error here cannot spoil finalize's transaction
            services.moment_thumbnails_render(analysis=analysis)
    except Exception:
        log.exception("Could not render the key-moment thumbnails of analysis %s", analysis.pk)


def on_footage_file_deleted(sender, footage, **kwargs):
    thumbnails.footage_thumbnails_delete(footage=footage)
