"""django-filter sets for the ML API's lists."""
import django_filters

from emo7ion_site.core.filters import IdFilter
from emo7ion_site.core.jobs import JobStatus

from .models import BiasAudit, Dataset, Evaluation, ModelVersion


class ModelVersionFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ModelVersion
        fields = ["is_active", "is_default_shipped", "name"]


class DatasetFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Dataset.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Dataset.Status.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Dataset
        fields = ["kind", "status", "labelled", "name"]


class EvaluationFilter(django_filters.FilterSet):
    model_version = IdFilter(field_name="model_version_id")
    dataset = IdFilter(field_name="dataset_id")
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)

    class Meta:
        model = Evaluation
        fields = ["model_version", "dataset", "status"]


class BiasAuditFilter(django_filters.FilterSet):
    model_version = IdFilter(field_name="model_version_id")
    dataset = IdFilter(field_name="dataset_id")
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    verdict = django_filters.CharFilter()

    class Meta:
        model = BiasAudit
        fields = ["model_version", "dataset", "status", "verdict"]
