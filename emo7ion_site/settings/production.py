"""Production: everything from the environment, HTTPS only, no defaults for secrets.

The site runs behind a TLS-terminating proxy that sets `X-Forwarded-Proto: https`; Django trusts that
header for "is this request secure" (SECURE_PROXY_SSL_HEADER), redirects plain HTTP to HTTPS and sends
HSTS. `manage.py check --deploy` is clean with the variables the README lists (Production).
"""
from .base import *  # noqa: F401,F403
from .base import DATABASES, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# One year, subdomains included. Preload only asks browsers to take the site into their built-in lists
# once someone submits it (hstspreload.org); set DJANGO_SECURE_HSTS_PRELOAD=False to leave it out.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_HTTPONLY = True
# Persistent database connections (checked before use: CONN_HEALTH_CHECKS in base.py).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
