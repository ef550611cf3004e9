"""django-filter sets for the API's lists."""
import django_filters

from emo7ion_site.core.filters import DateTimeFilter, IdFilter, SecondsFilter
from emo7ion_site.core.jobs import JobStatus
from ml.engine.labels import EMOTIONS

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
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
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
