"""django-filter sets for the API's lists."""
from datetime import timezone as dt_timezone

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from ml.engine.labels import EMOTIONS

ID_MAX = 2 ** 31 - 1          # fits every integer column on every database we run on
SECONDS_MAX = 1e9


class IdFilter(django_filters.NumberFilter):
    """A whole number within the database's integer range: anything else is a 400, not a query
    that overflows."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class _UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        # In UTC before it reaches the database: PostgreSQL refuses offsets beyond ±15:59,
        # which ISO 8601 (and Python) allow.
        try:
            return value.astimezone(dt_timezone.utc)
        except OverflowError:
            raise forms.ValidationError("This date and time is out of range.")


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcDateTimeField


class SecondsFilter(django_filters.NumberFilter):
    field_class = forms.FloatField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -SECONDS_MAX)
        kwargs.setdefault("max_value", SECONDS_MAX)
        super().__init__(*args, **kwargs)

from .models import Analysis, FaceObservation, Footage, Project


class ProjectFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__slug", help_text="Organisation slug")
    name = django_filters.CharFilter(lookup_expr="icontains")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Project
        fields = ["organisation", "name", "created_after", "created_before"]


class FootageFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id")
    status = django_filters.ChoiceFilter(choices=Footage.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Footage.Kind.choices)
    name = django_filters.CharFilter(field_name="original_name", lookup_expr="icontains")

    class Meta:
        model = Footage
        fields = ["project", "status", "kind", "name"]


class AnalysisFilter(django_filters.FilterSet):
    project = IdFilter(field_name="footage__project_id")
    footage = IdFilter(field_name="footage_id")
    status = django_filters.ChoiceFilter(choices=Analysis.Status.choices)
    model_version = IdFilter(field_name="model_version_id")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Analysis
        fields = ["project", "footage", "status", "model_version", "created_after", "created_before"]


class ObservationFilter(django_filters.FilterSet):
    t_min = SecondsFilter(field_name="t", lookup_expr="gte", help_text="From this second (inclusive)")
    t_max = SecondsFilter(field_name="t", lookup_expr="lt", help_text="Up to this second (exclusive)")
    track = IdFilter(field_name="track_id", help_text="One face track")
    emotion = django_filters.ChoiceFilter(field_name="top_emotion", choices=[(e, e) for e in EMOTIONS],
                                          help_text="Top emotion")

    class Meta:
        model = FaceObservation
        fields = ["t_min", "t_max", "track", "emotion"]
