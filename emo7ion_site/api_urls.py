"""REST API v1: one router; each app's viewsets live in its own `api` module."""
from django.urls import Resolver404, include, path, re_path, resolve
from rest_framework.decorators import api_view, permission_classes, schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from accounts.api import OrganisationViewSet, TokenDetailView, TokenListView, TokenView
from analysis.api import AnalysisViewSet, FootageViewSet, ProjectViewSet
from live.api import LiveSessionViewSet, PhotoScoreView
from ml.api import BiasAuditViewSet, DatasetViewSet, EvaluationViewSet, ModelVersionViewSet
from webhooks.api import WebhookEndpointViewSet

app_name = "api"

router = DefaultRouter()
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("projects", ProjectViewSet, basename="project")
router.register("footage", FootageViewSet, basename="footage")
router.register("analyses", AnalysisViewSet, basename="analysis")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("evaluations", EvaluationViewSet, basename="evaluation")
router.register("bias-audits", BiasAuditViewSet, basename="bias-audit")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("live-sessions", LiveSessionViewSet, basename="live-session")


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
@schema(None)
def not_found(request, path=""):
    """Unknown API paths answer in JSON like every other API error (not Django's HTML page)."""
    if not path.endswith("/"):
        try:
            if resolve(f"{request.path}/").func is not not_found_view:
                raise NotFound(f"There is no API endpoint at /api/v1/{path}; API paths end with a slash: "
                               f"/api/v1/{path}/")
        except Resolver404:
            pass
    raise NotFound(f"There is no API endpoint at /api/v1/{path}. See /api/docs/.")


not_found_view = not_found


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("auth/tokens/", TokenListView.as_view(), name="tokens"),
    path("auth/tokens/<str:token_key>/", TokenDetailView.as_view(), name="token-detail"),
    path("images/", PhotoScoreView.as_view(), name="images"),
    path("", include(router.urls)),
    re_path(r"^(?P<path>[\s\S]*)$", not_found),  # [\s\S]: a path with a newline in it is still an API path
]
