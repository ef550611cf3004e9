"""Pages of the analysis app (mounted at the site root). The analysis page and the reports are in reports.urls."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/", views.project_list, name="project-list"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/status/", views.project_status, name="project-status"),
    path("projects/<int:pk>/upload/", views.footage_upload, name="footage-upload"),
    path("footage/<int:pk>/analyse/", views.analysis_start, name="analysis-start"),
    path("analyses/<int:pk>/status/", views.analysis_status, name="analysis-status"),
    path("analyses/<int:pk>/cancel/", views.analysis_cancel, name="analysis-cancel"),
]
