"""Django admin: every analysis model is registered, with working list filters and search."""
from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from analysis import services
from analysis.models import Analysis, AnalysisSegment, FaceObservation, Footage, Moment, Project, TimelineBucket
from tests.factories import UserFactory

from .conftest import clip, upload

MODELS = [Project, Footage, Analysis, AnalysisSegment, FaceObservation, TimelineBucket, Moment]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_is_registered_with_filters_and_search(model):
    model_admin = admin.site._registry[model]
    assert model_admin.list_filter and model_admin.search_fields


def test_admin_lists_filter_and_search(client, alice, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    services.analysis_run_inline(analysis=services.analysis_create(
        footage=footage, created_by=alice, detector="haar", sample_fps=2, enqueue=False))
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    for model in MODELS:
        url = reverse(f"admin:analysis_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        assert client.get(url, {"q": "1"}).status_code == 200, url
    analysis = Analysis.objects.get()
    page = client.get(reverse("admin:analysis_analysis_changelist"), {"status__exact": "succeeded"})
    assert footage.original_name in page.content.decode()
    assert client.get(reverse("admin:analysis_analysis_change", args=[analysis.pk])).status_code == 200
    # Pipeline results are read-only in the admin.
    obs = FaceObservation.objects.filter(analysis=analysis).first()
    assert client.post(reverse("admin:analysis_faceobservation_change", args=[obs.pk]), {"track_id": 99}).status_code == 403
