"""WebSocket routes (mounted by emo7ion_site.asgi)."""
from django.urls import path

from .consumers import LiveSessionConsumer

websocket_urlpatterns = [
    path("ws/live/<int:pk>/", LiveSessionConsumer.as_asgi()),
]
