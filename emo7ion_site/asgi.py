"""The ASGI application: Django's HTTP views, and the live pages' WebSockets (Django Channels).

WebSockets are authenticated by the session cookie and accepted only from this site's own origins
(ALLOWED_HOSTS). With the in-memory channel layer (no REDIS_URL) the live worker runs inside this
server (live.embedded); with Redis it is a process of its own (`manage.py live_worker`).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.local")
django_application = get_asgi_application()  # sets Django up before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from live.embedded import with_embedded_live_worker  # noqa: E402
from live.routing import websocket_urlpatterns  # noqa: E402

application = with_embedded_live_worker(ProtocolTypeRouter({
    "http": django_application,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
}))
