"""Tests. The database, broker and storage still come from the environment (the Makefile
points them at PostgreSQL/Redis when those answer, and the test fixtures start moto's S3
server), so the same suite runs against embedded defaults and real services.

TEST_TAG keeps concurrent runs on one machine apart (SQLite file, media folder, filesystem queue).
"""
from .base import *  # noqa: F401,F403
from .base import CELERY_BROKER_URL, DATABASES, VAR_DIR, env

TEST_TAG = env("TEST_TAG", default="main")
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / f"test-media-{TEST_TAG}"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{TEST_TAG}.sqlite3")}
if CELERY_BROKER_URL.startswith("filesystem"):
    _queue = VAR_DIR / f"celery-test-{TEST_TAG}"
    for _sub in ("queue", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "queue"), "data_folder_out": str(_queue / "queue"),
        "processed_folder": str(_queue / "processed"), "store_processed": False,
        # broadcast/pidbox files; kombu would otherwise write ./control in the working directory
        "control_folder": str(_queue / "control"),
    }
