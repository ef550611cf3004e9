"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.local")

app = Celery("emo7ion_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
