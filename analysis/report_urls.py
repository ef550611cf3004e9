"""Report routes (included from analysis/urls.py)."""
from django.urls import path

from . import report_views as views

urlpatterns = [
    path("analyses/<int:pk>/report/", views.analysis_report_view, name="analysis-report"),
    path("analyses/<int:pk>/report/tracks/", views.analysis_tracks_view, name="analysis-report-tracks"),
    path("analyses/<int:pk>/report/progress.json", views.analysis_progress_view, name="analysis-report-progress"),
    path("analyses/<int:pk>/report/moments/<int:frame_index>.jpg", views.moment_thumbnail_view,
         name="analysis-moment-thumbnail"),
    path("analyses/<int:pk>/export/observations.csv", views.export_observations_csv,
         name="analysis-export-observations"),
    path("analyses/<int:pk>/export/timeline.csv", views.export_timeline_csv, name="analysis-export-timeline"),
    path("analyses/<int:pk>/export/report.json", views.export_report_json, name="analysis-export-json"),
    path("projects/<int:pk>/report/", views.project_report_view, name="project-report"),
]
