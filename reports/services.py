"""Report writes. The one thing reports store: key-moment thumbnails, rendered once per analysis by the
worker that finalizes it, so the report page shows them at once and never touches the footage."""
from __future__ import annotations

import logging

from analysis.models import Analysis

from .selectors import analysis_key_moments, analysis_timeline
from .thumbnails import FootageUnavailable, footage_unavailable_reason, moment_thumbnail

log = logging.getLogger(__name__)


def moment_thumbnails_render(*, analysis: Analysis) -> int:
    """Render and store the thumbnail of every key moment the report will show (those already stored
    are kept). Returns how many thumbnails are stored. Footage that is gone stores none: the report
    says why instead."""
    if footage_unavailable_reason(analysis.footage):
        return 0
    moments = analysis_key_moments(analysis=analysis, timeline=analysis_timeline(analysis=analysis))
    stored = 0
    for frame_index in dict.fromkeys(m["frame_index"] for m in moments):
        try:
            moment_thumbnail(analysis=analysis, frame_index=frame_index)
        except FootageUnavailable as exc:
            log.warning("analysis %s: no thumbnail for frame %s: %s", analysis.pk, frame_index, exc)
            continue
        stored += 1
    return stored
