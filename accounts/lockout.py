"""Login lockout (django-axes): after EMO7ION_LOGIN_FAILURE_LIMIT failed sign-ins in a row for one
username from one address, that pair is refused for EMO7ION_LOGIN_LOCKOUT_MINUTES, on the sign-in
page, the admin and the API's token endpoint alike, with a message that says what happened and when
to try again (settings/security.py holds the numbers)."""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (f"Too many failed sign-in attempts for this account from your address: signing in is locked for "
            f"{minutes} minute{'s' if minutes != 1 else ''}. Wait and try again, or reset your password "
            "(“Forgotten your password?” on the sign-in page).")


def retry_after_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before the password check, for sign-ins that come with a request (pages, admin, API).
    Authentication without a request (a shell, a management command, the test client's login) is no
    attempt from an address, so there is nothing to lock."""

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): JSON for the API and script clients,
    the sign-in page with the message otherwise. 429, with Retry-After."""
    message = lockout_message()
    if request.path.startswith("/api/") or request.headers.get("x-requested-with") == "XMLHttpRequest":
        response = JsonResponse({"detail": message}, status=LOCKOUT_STATUS)
    else:
        form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
        response = render(request, "registration/login.html",
                          {"form": form, "lockout_message": message, "next": request.POST.get("next", "")},
                          status=LOCKOUT_STATUS)
    response["Retry-After"] = str(retry_after_seconds())
    return response
