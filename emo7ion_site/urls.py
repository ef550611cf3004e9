"""Top-level routes. Each app owns its own urls module; the API lives under /api/v1/."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("ml/", include("ml.urls")),
    path("api/v1/", include("emo7ion_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("analysis.urls")),
    path("", include("reports.urls")),  # the analysis page, reports, exports, thumbnails
    path("", include("live.urls")),  # live sessions and photo scoring (WebSockets: live.routing)
]
