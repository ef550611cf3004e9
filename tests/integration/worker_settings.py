"""Settings of a test worker that also loads `worker_hooks` (Celery's CELERY_IMPORTS): the liveness tests
start such a worker with `DJANGO_SETTINGS_MODULE=tests.integration.worker_settings`."""
from emo7ion_site.settings.test import *  # noqa: F401,F403

CELERY_IMPORTS = ["tests.integration.worker_hooks"]
