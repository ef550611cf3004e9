"""Settings shared by every environment. Everything that differs between machines is read
from the environment (django-environ); see `.env.example` for the variables.

Embedded defaults (no variable set): SQLite under var/, local file storage under var/media,
Celery over kombu's filesystem transport under var/celery. Set DATABASE_URL, CELERY_BROKER_URL,
REDIS_URL and AWS_STORAGE_BUCKET_NAME to switch to PostgreSQL, Redis and S3.
"""
from pathlib import Path

import environ
import plotly

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
SHARED_DIR = BASE_DIR.parent / "shared"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# After .env is read: these read the environment too.
from .security import *  # noqa: F401,F403  (lockout, API tokens, throttles, Content-Security-Policy)
from .security import API_TOKEN_AUTHENTICATION, NUM_PROXIES, TOKEN_THROTTLE_RATES

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me-emo7ion")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # first: `runserver` serves the ASGI application (HTTP and the live pages' WebSockets)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # API tokens: hashed at rest, with an expiry (settings/security.py)
    "axes",  # login lockout
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "channels",
    "accounts",
    "analysis",
    "ml",
    "reports",
    "webhooks",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (plotly.min.js, Swagger UI) without a CDN
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout on the sign-in pages into its message
]

ROOT_URLCONF = "emo7ion_site.urls"
WSGI_APPLICATION = "emo7ion_site.wsgi.application"
ASGI_APPLICATION = "emo7ion_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A kept connection the server dropped (restart, failover) is tested before each request or task uses it
# and opened again, instead of failing that request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web process and worker share the file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request when it is absent
# plotly.min.js ships inside the plotly package: serve that copy as static/plotly/plotly.min.js.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", str(Path(plotly.__file__).parent / "package_data"))]
WHITENOISE_USE_FINDERS = True  # serve straight from the finders: no collectstatic step for the demo
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Storage: local files by default, S3 (or any S3-compatible endpoint) when a bucket is set.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if AWS_STORAGE_BUCKET_NAME:
    from .storage import s3_client_config

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default="us-east-1"),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "default_acl": "private",
            "querystring_auth": True,           # presigned URLs only
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=600),
            "file_overwrite": False,
            "signature_version": "s3v4",
            # Every S3 call retries with backoff (botocore's retry modes); this replaces the two
            # settings above in botocore's Config, so it repeats them.
            "client_config": s3_client_config(
                signature_version="s3v4", addressing_style=env("AWS_S3_ADDRESSING_STYLE", default="path"),
                retry_mode=env("AWS_S3_RETRY_MODE", default="standard"),
                max_attempts=env.int("AWS_S3_MAX_ATTEMPTS", default=6),
                connect_timeout=env.float("AWS_S3_CONNECT_TIMEOUT", default=5.0),
                read_timeout=env.float("AWS_S3_READ_TIMEOUT", default=60.0)),
        },
    }

# --- Cache (throttle counters, model registry hints): Redis when REDIS_URL is set.
REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL else
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "emo7ion"}
    )
}

# --- Channels (the live pages' WebSockets and the live worker): Redis when REDIS_URL is set, so web
# processes and a separate `manage.py live_worker` share it; otherwise the in-memory layer, which
# only reaches within one process (the ASGI server then runs the live worker itself, see live/embedded.py).
if REDIS_URL:
    # socket_timeout None: the layer's receive is a blocking pop that waits for messages, and redis-py 8's
    # default 5 s read timeout would abort it (and the consumer with it) after 5 quiet seconds.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {
        "hosts": [{"address": REDIS_URL, "socket_timeout": None}], "capacity": 200, "expiry": 30}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery. Embedded filesystem broker by default: `make demo` needs no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
EMO7ION_TRAINING_TIME_LIMIT = env.int("EMO7ION_TRAINING_TIME_LIMIT", default=24 * 3600)
EMO7ION_TRAINING_STALE_AFTER = env.int("EMO7ION_TRAINING_STALE_AFTER", default=30 * 60)  # heartbeat age
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=55 * 60)
# Liveness (analysis.services.watchdog, run by beat every EMO7ION_WATCHDOG_INTERVAL_S or by cron as
# `manage.py watchdog`): a running analysis step whose heartbeat is older than EMO7ION_WATCHDOG_STALE_AFTER_S
# lost its worker and is handed to another, up to EMO7ION_WATCHDOG_MAX_ATTEMPTS tries; a message the broker
# lost is sent again. Segments beat at least every few seconds, so minutes of silence mean a dead worker.
EMO7ION_WATCHDOG_INTERVAL_S = env.float("EMO7ION_WATCHDOG_INTERVAL_S", default=60.0)
EMO7ION_WATCHDOG_STALE_AFTER_S = env.float("EMO7ION_WATCHDOG_STALE_AFTER_S", default=5 * 60.0)
EMO7ION_WATCHDOG_MAX_ATTEMPTS = env.int("EMO7ION_WATCHDOG_MAX_ATTEMPTS", default=3)
# A segment whose footage cannot be read from storage (an outage, not a missing file) is retried by Celery
# this many times in all, waiting EMO7ION_STORAGE_RETRY_DELAY_S and then twice as long each time.
EMO7ION_STORAGE_READ_TRIES = env.int("EMO7ION_STORAGE_READ_TRIES", default=5)
EMO7ION_STORAGE_RETRY_DELAY_S = env.float("EMO7ION_STORAGE_RETRY_DELAY_S", default=10.0)
if CELERY_BROKER_URL.startswith("redis"):
    # Redis hands a task that was delivered but not acknowledged (acks_late) to another worker after
    # visibility_timeout. It must outlast the longest such task (the analysis steps' limits are minutes, the
    # other tasks' CELERY_TASK_TIME_LIMIT an hour) so a healthy task never runs twice; a dead worker's
    # segment is the watchdog's business long before. Training and the other ML jobs are acknowledged when
    # they start (their heartbeat is their liveness), so their hours never stretch this timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("EMO7ION_BROKER_VISIBILITY_TIMEOUT",
                                                                     default=CELERY_TASK_TIME_LIMIT + 10 * 60)}
if CELERY_BROKER_URL.startswith("filesystem"):
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
        # broadcast/pidbox files; kombu would otherwise write ./control in the working directory
        "control_folder": str(_celery_dir / "control"),
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True        # state lives in the database rows, not a result backend
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Three queues: `ml` the analysis steps (minutes each), `training` the ML jobs (training and tuning take
# hours; a worker of their own keeps them from holding up analyses), `default` the short jobs (watchdog,
# retention, webhooks). One worker may consume them all (analysis.management.processes.worker_queues).
CELERY_TASK_ROUTES = {
    "analysis.tasks.analyse_segment": {"queue": "ml"},
    "analysis.tasks.start_analysis": {"queue": "ml"},
    "analysis.tasks.finalize_analysis": {"queue": "ml"},
    "ml.tasks.*": {"queue": "training"},
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Only used when `celery -A emo7ion_site beat` runs; cron can run `manage.py watchdog` and
# `manage.py apply_retention` instead. A watchdog message nobody took before the next one is dropped.
CELERY_BEAT_SCHEDULE = {
    "footage-retention": {"task": "analysis.tasks.apply_retention", "schedule": 24 * 3600.0},
    "watchdog": {"task": "analysis.tasks.watchdog", "schedule": EMO7ION_WATCHDOG_INTERVAL_S,
                 "options": {"expires": EMO7ION_WATCHDOG_INTERVAL_S}},
}

# --- REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        API_TOKEN_AUTHENTICATION,
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend",
                                "rest_framework.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        **TOKEN_THROTTLE_RATES,
        "upload": env("THROTTLE_UPLOAD", default="60/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Emo7ion API",
    "DESCRIPTION": "Crowd emotion analytics: projects, footage, analyses, models and audits.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from validator.swagger.io: the page works offline and within the CSP.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Analyses and ML jobs share one status set, and webhooks' event set appears as "event" and
    # "events": one named component each instead of generated names like Status398Enum.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "ml.models.JobStatus",
        "WebhookEventEnum": "webhooks.models.Event",
    },
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Emo7ion <noreply@emo7ion.local>")

# --- Emo7ion
# YuNet ONNX file (see README "Face detection"); empty -> Haar fallback.
EMO7ION_YUNET_MODEL = env("EMO7ION_YUNET_MODEL", default="")
EMO7ION_DEFAULT_MODEL = env("EMO7ION_DEFAULT_MODEL", default=str(BASE_DIR / "ml" / "default_model" / "emo7ion-fer2013-v1.keras"))
EMO7ION_MODEL_DIR = env.path("EMO7ION_MODEL_DIR", default=str(VAR_DIR / "models"))
EMO7ION_CACHE_DIR = env.path("EMO7ION_CACHE_DIR", default=str(VAR_DIR / "cache"))
# Local copies of S3 footage beyond this are removed, least recently used first (daily, with retention).
EMO7ION_CACHE_MAX_BYTES = env.int("EMO7ION_CACHE_MAX_BYTES", default=20 * 1024 ** 3)
EMO7ION_MAX_UPLOAD_BYTES = env.int("EMO7ION_MAX_UPLOAD_BYTES", default=2 * 1024 ** 3)
# Still images above this many pixels (width x height, read from the header) are refused before decoding.
EMO7ION_MAX_IMAGE_PIXELS = env.int("EMO7ION_MAX_IMAGE_PIXELS", default=100_000_000)
# Every upload through the site (footage, datasets) is refused above the limit before it is stored.
FILE_UPLOAD_HANDLERS = [
    "emo7ion_site.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Direct uploads (API): S3 multipart above the threshold; chunk size of the local-storage fallback.
EMO7ION_MULTIPART_THRESHOLD = env.int("EMO7ION_MULTIPART_THRESHOLD", default=100 * 1024 ** 2)
EMO7ION_MULTIPART_PART_BYTES = env.int("EMO7ION_MULTIPART_PART_BYTES", default=64 * 1024 ** 2)
EMO7ION_UPLOAD_CHUNK_BYTES = env.int("EMO7ION_UPLOAD_CHUNK_BYTES", default=8 * 1024 ** 2)
EMO7ION_SEGMENT_SECONDS = env.float("EMO7ION_SEGMENT_SECONDS", default=60.0)
EMO7ION_DEFAULT_SAMPLE_FPS = env.float("EMO7ION_DEFAULT_SAMPLE_FPS", default=2.0)
EMO7ION_BUCKET_SECONDS = env.float("EMO7ION_BUCKET_SECONDS", default=60.0)
EMO7ION_DETECTOR_UPSCALE = env("EMO7ION_DETECTOR_UPSCALE", default="auto")  # "auto", or a factor 1-4 (1 = off)
# What runs YuNet: "auto" (ONNX Runtime where installed), "onnxruntime" or "opencv" (the same faces, 2.5x slower)
EMO7ION_DETECTOR_RUNTIME = env("EMO7ION_DETECTOR_RUNTIME", default="auto")
EMO7ION_CLASSIFIER_PRECISION = env("EMO7ION_CLASSIFIER_PRECISION", default="float32")  # float32, bfloat16 or auto
# keras, litert or auto (LiteRT for float32 where ai-edge-litert is installed: workers never import TensorFlow)
EMO7ION_CLASSIFIER_RUNTIME = env("EMO7ION_CLASSIFIER_RUNTIME", default="auto")
EMO7ION_INVITATION_DAYS = env.int("EMO7ION_INVITATION_DAYS", default=7)
EMO7ION_SITE_URL = env("EMO7ION_SITE_URL", default="")  # base of links in emails; default: the request's host
EMO7ION_WEBHOOK_TIMEOUT = env.float("EMO7ION_WEBHOOK_TIMEOUT", default=5.0)
EMO7ION_WEBHOOK_MAX_ATTEMPTS = env.int("EMO7ION_WEBHOOK_MAX_ATTEMPTS", default=6)
EMO7ION_WEBHOOK_BACKOFF_S = env.float("EMO7ION_WEBHOOK_BACKOFF_S", default=30.0)  # doubles after each failure
# Receivers on private, loopback or link-local addresses are refused unless this is set (a tenant
# must not make the workers call internal services).
EMO7ION_WEBHOOK_ALLOW_PRIVATE = env.bool("EMO7ION_WEBHOOK_ALLOW_PRIVATE", default=False)

# --- Live analysis (live/): browser cameras and stream URLs, and photo scoring.
# Settings in which live expression analysis is refused (EU AI Act Art. 5(1)(f): emotion recognition
# in workplaces and education institutions is prohibited).
# Face detection schedule for analyses (ml.engine.schedule): "adaptive" (full detection every k-th sampled
# frame, tracked faces re-checked in padded regions between) or "full" (every sampled frame, full frame).
EMO7ION_DETECTION_SCHEDULE = env("EMO7ION_DETECTION_SCHEDULE", default="adaptive")
EMO7ION_LIVE_PROHIBITED_SETTINGS = env.list("EMO7ION_LIVE_PROHIBITED_SETTINGS", default=["education", "workplace"])
# "embedded": the ASGI server runs the live worker (its model in a child process); "external": a
# separate `manage.py live_worker` does (needs the Redis channel layer).
EMO7ION_LIVE_WORKER = env("EMO7ION_LIVE_WORKER", default="external" if REDIS_URL else "embedded")
EMO7ION_LIVE_DEFAULT_FPS = env.float("EMO7ION_LIVE_DEFAULT_FPS", default=4.0)
EMO7ION_LIVE_MAX_FPS = env.float("EMO7ION_LIVE_MAX_FPS", default=10.0)
EMO7ION_LIVE_CHUNK_SECONDS = env.float("EMO7ION_LIVE_CHUNK_SECONDS", default=60.0)  # one stored segment per chunk
EMO7ION_LIVE_IDLE_STOP_S = env.float("EMO7ION_LIVE_IDLE_STOP_S", default=15 * 60.0)  # no frames this long: stop
# Room cameras usually sit on private networks: stream URLs may point there unless this is off.
EMO7ION_LIVE_STREAM_ALLOW_PRIVATE = env.bool("EMO7ION_LIVE_STREAM_ALLOW_PRIVATE", default=True)
EMO7ION_PHOTO_MAX_BYTES = env.int("EMO7ION_PHOTO_MAX_BYTES", default=15 * 1024 ** 2)
EMO7ION_PHOTO_FETCH_TIMEOUT = env.float("EMO7ION_PHOTO_FETCH_TIMEOUT", default=10.0)  # seconds, whole download
EMO7ION_PHOTO_MAX_REDIRECTS = env.int("EMO7ION_PHOTO_MAX_REDIRECTS", default=3)
# Photo URLs on private, loopback or link-local addresses are refused unless this is set (as webhooks).
EMO7ION_PHOTO_ALLOW_PRIVATE = env.bool("EMO7ION_PHOTO_ALLOW_PRIVATE", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
