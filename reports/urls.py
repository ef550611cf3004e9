"""Report routes (mounted at the site root, beside analysis.urls)."""
from django.urls import path

from . import views

urlpatterns = [
    path("analyses/<int:pk>/", views.analysis_detail, name="analysis-detail"),
    path("analyses/<int:pk>/report/", views.analysis_report_view, name="analysis-report"),
    path("analyses/<int:pk>/report/tracks/", views.analysis_tracks_view, name="analysis-report-tracks"),
    path("analyses/<int:pk>/report/moments/<int:frame_index>.jpg", views.moment_thumbnail_view,
         name="analysis-moment-thumbnail"),
    path("analyses/<int:pk>/export/observations.csv", views.export_observations_csv,
         name="analysis-export-observations"),
    path("analyses/<int:pk>/export/timeline.csv", views.export_timeline_csv, name="analysis-export-timeline"),
    path("analyses/<int:pk>/export/report.json", views.export_report_json, name="analysis-export-json"),
    path("analyses/<int:pk>/export/moments.csv", views.export_moments_csv, name="analysis-export-moments"),
    # Moments a user marks (not the key moments above, which the numbers pick).
    path("analyses/<int:pk>/marked-moments/", views.moment_create_view, name="analysis-moment-create"),
    path("analyses/<int:pk>/marked-moments/<int:moment_id>/delete/", views.moment_delete_view,
         name="analysis-moment-delete"),
    path("projects/<int:pk>/report/", views.project_report_view, name="project-report"),
]
