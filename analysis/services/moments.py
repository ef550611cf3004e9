"""Moments: named time ranges a user marks on a finished analysis ("Opening act", "Q&A") to compare
them side by side (analysis.selectors.moment_comparison). Not the report's key moments, which the
numbers pick."""
from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import Analysis, Moment
from ..selectors import analysis_duration

# Every pair of moments is compared (a permutation test per number): a bound keeps the comparison a
# page can wait for (12 moments: 66 pairs).
MAX_MOMENTS_PER_ANALYSIS = 12
NAME_MAX_LENGTH = Moment._meta.get_field("name").max_length


def _seconds(value, field: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "Give a time in seconds from the start of the footage."}) from None
    if not math.isfinite(seconds):
        raise ValidationError({field: "Give a time in seconds from the start of the footage."})
    return seconds


def moment_create(*, analysis: Analysis, name: str, t_start, t_end, created_by=None) -> Moment:
    """Mark [t_start, t_end) of a succeeded analysis under a name unique within it (case aside).
    Refusals are ValidationErrors naming the field, written for the person who typed it."""
    if analysis.status != Analysis.Status.SUCCEEDED:
        raise ValidationError("Moments can be marked once the analysis has succeeded.")
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "A moment needs a name, e.g. “Opening act”."})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"A moment's name can be at most {NAME_MAX_LENGTH} characters."})
    start, end = _seconds(t_start, "t_start"), _seconds(t_end, "t_end")
    if start < 0:
        raise ValidationError({"t_start": "A moment cannot start before the footage does (0 s)."})
    if end <= start:
        raise ValidationError({"t_end": "A moment must end after it starts."})
    duration = analysis_duration(analysis)
    # Half a frame's worth of slack: the end a person reads off a player is rounded.
    if duration is not None and end > duration + 0.05:
        raise ValidationError({"t_end": f"A moment must end within the footage, which is {duration:.1f} s long."})
    if duration is not None:
        end = min(end, duration)
        if end <= start:
            raise ValidationError({"t_start": f"A moment must start within the footage, which is {duration:.1f} s "
                                              "long."})
    with transaction.atomic():
        # Counted and checked under the analysis row's lock, so two requests cannot both take the last place.
        list(Analysis.objects.select_for_update().filter(pk=analysis.pk).values_list("pk", flat=True))
        if Moment.objects.filter(analysis=analysis).count() >= MAX_MOMENTS_PER_ANALYSIS:
            raise ValidationError(f"An analysis holds at most {MAX_MOMENTS_PER_ANALYSIS} moments: delete one "
                                  "before marking another.")
        try:
            with transaction.atomic():
                return Moment.objects.create(analysis=analysis, name=name, t_start=start, t_end=end,
                                             created_by=created_by)
        except IntegrityError:  # the one owner of the name rule: one_moment_name_per_analysis (case aside)
            raise ValidationError({"name": f"This analysis already has a moment called “{name}”."}) from None


def moment_delete(*, moment: Moment) -> None:
    moment.delete()
