"""Signal receivers (connected in apps.py): a succeeded analysis gets its key-moment thumbnails rendered
and stored, in the worker that finalized it (never in a page request); a footage whose raw file was
deleted loses them."""
import logging

from analysis.models import Analysis

from . import services, thumbnails

log = logging.getLogger(__name__)


def render_thumbnails(sender, analysis, **kwargs):
    # The results are already stored: a frame that cannot be read costs the report a thumbnail (it
    # shows a placeholder), never the worker its result.
    try:
        services.moment_thumbnails_render(analysis=analysis)
    except Exception:
        log.exception("Could not render the key-moment thumbnails of analysis %s", analysis.pk)


def on_analysis_finished(sender, analysis, **kwargs):
    if analysis.status == Analysis.Status.SUCCEEDED:
        render_thumbnails(sender, analysis, **kwargs)


def on_footage_file_deleted(sender, footage, **kwargs):
    thumbnails.footage_thumbnails_delete(footage=footage)
