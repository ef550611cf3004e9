"""Security settings every environment shares: login lockout (django-axes), hashed API tokens with an
expiry (django-rest-knox), the token endpoint's throttles and the Content-Security-Policy (django-csp).
`base.py` imports this module; production.py adds HTTPS (HSTS, SSL redirect, secure cookies).
"""
from datetime import timedelta

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

env = environ.Env()

# --- Login lockout (django-axes). A user+address pair that fails EMO7ION_LOGIN_FAILURE_LIMIT sign-ins in a
# row (pages, admin or the API's token endpoint) is refused for EMO7ION_LOGIN_LOCKOUT_MINUTES, with a
# message that says so (accounts.lockout). Locking the pair, not the username alone, means a stranger
# cannot lock a colleague out by typing wrong passwords for them from elsewhere.
AUTHENTICATION_BACKENDS = [
    "accounts.lockout.LockoutBackend",  # first: refuses a locked-out pair before any password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("EMO7ION_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("EMO7ION_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A locked-out pair that keeps trying does not push its end further away: the message's time stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The same client address the API's throttles use (REMOTE_ADDR, or X-Forwarded-For behind
# DJANGO_NUM_PROXIES trusted proxies), so no client can pick its own address in a header.
AXES_CLIENT_IP_CALLABLE = "emo7ion_site.api_common.client_address"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# --- API tokens (django-rest-knox): only a SHA-512 digest is stored; each token expires and can be revoked.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("EMO7ION_API_TOKEN_DAYS", default=30)),
    "AUTH_HEADER_PREFIX": "Token",  # `Authorization: Token <token>`, as before
    "TOKEN_PREFIX": "emo7_",  # lets secret scanners recognise a leaked token
    "AUTO_REFRESH": False,
}
API_TOKEN_AUTHENTICATION = "accounts.authentication.HashedTokenAuthentication"

# --- Throttles of the token endpoint: per account (the username asked for) and per client address.
# The address limit is generous so that an office behind one NAT address is not throttled as one user.
TOKEN_THROTTLE_RATES = {
    "token": env("THROTTLE_TOKEN", default="120/min"),  # per client address
    "token_user": env("THROTTLE_TOKEN_USER", default="10/min"),  # per username
}
# Proxies in front of the site that append to X-Forwarded-For (0: trust no header; the address is the peer's).
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)

# --- Content-Security-Policy (django-csp). Scripts only from this site, or inline with the request's
# nonce (`nonce="{{ request.csp_nonce }}"`); JSON data blocks (<script type="application/json">) are not
# scripts and need none. Inline styles stay allowed: the pages' progress bars and swatches are style
# attributes and Plotly/Swagger UI write styles at run time, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],  # thumbnails and previews come as data: URLs
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],  # fetch/XHR and the live pages' WebSockets (same host)
        "media-src": [SELF, "blob:"],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

__all__ = [name for name in dir() if name.isupper()]  # what base.py takes: settings, not helpers
