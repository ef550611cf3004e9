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
    path("projects/<int:pk>/report/", views.project_report_view, name="project-report"),
]
