"""Live pages (mounted at the site root). WebSockets are in live.routing, the API in live.api."""
from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:pk>/live/", views.live_start, name="live-start"),
    path("projects/<int:pk>/photo/", views.photo_page, name="photo-score"),
    path("live/<int:pk>/", views.live_session, name="live-session"),
    path("live/<int:pk>/state/", views.live_session_state, name="live-session-state"),
    path("live/<int:pk>/<slug:action>/", views.live_session_action, name="live-session-action"),
]
