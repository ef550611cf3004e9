"""What every REST API v1 endpoint shares: tenancy, role checks, errors, schema, throttles, paging.

Tenancy fails closed here, in one base (the PostHog/Sentry organisation-endpoint pattern):
`OrganisationScopedMixin` scopes every queryset through `accounts.tenancy` and asks
`accounts.permissions.role_allows` for every action. A subclass names how its model reaches its
organisation (`org_path`) and which permission each action needs (`action_permissions`); it can
only narrow what it sees (`get_base_queryset`), never widen it: a subclass that overrides
`get_queryset` or `get_object` is refused when its class is created. An action missing from the
table is a configuration error, not an open door.

Errors: any service's `ApplicationError` (and the engine's `EngineError`, registered by the ml app)
is a 400 with its message; this module imports no app to know them.
"""
from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.models import Organisation
from accounts.permissions import VIEW, role_allows
from accounts.tenancy import get_for_user, memberships_of, role_in, scope_to_user
from emo7ion_site.core.exceptions import rule_errors

# --- Errors ----------------------------------------------------------------------------------------

# Refusals with a message written for the person who sent the request: the services' rule errors
# (one base, whatever app raised them) and the engine's (plain Python, so it has its own base).


def _message_of(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc) or exc.__class__.__name__


def api_exception_handler(exc, context):
    """DRF's handler, plus: Django ValidationErrors from services become field-level 400s, and the
    services' rule errors become a 400 with their human message. Every error body is JSON with
    either `detail` (one string) or lists of messages per field."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError({field: [str(m) for e in errs for m in e.messages]
                                              for field, errs in exc.error_dict.items()})
        else:
            exc = exceptions.ValidationError({"detail": " ".join(exc.messages)})
    elif isinstance(exc, rule_errors()):
        exc = exceptions.ValidationError({**getattr(exc, "extra", {}), "detail": _message_of(exc)})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()  # never echo what was looked up
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and isinstance(response.data.get("detail"), list):
        response.data["detail"] = " ".join(str(m) for m in response.data["detail"])
    return response


# --- OpenAPI ---------------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` for a request-wide error; otherwise one list of messages per field.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}


class Emo7ionAutoSchema(AutoSchema):
    """Documents the error answers every endpoint can give, so clients (and schemathesis) know
    that 400/401/403/404/429 are part of the contract, with a JSON body; groups operations by
    resource (the first path segment after /api/v1/)."""

    def get_tags(self):
        parts = [p for p in self.path.split("/") if p and not p.startswith("{")]
        return [parts[2]] if len(parts) > 2 and parts[:2] == ["api", "v1"] else super().get_tags()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = {"401": "Not signed in, or a wrong token", "403": "Your role does not allow this",
                 "404": "Not found (or not in one of your organisations)", "429": "Too many requests; retry later"}
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view() or self.method == "GET":
            codes["400"] = "Invalid input: messages per field"
        if self.method in ("POST", "PUT", "PATCH"):
            codes["415"] = "The body's Content-Type is not one this operation reads (or the body does not parse as it)"
        for code, description in codes.items():
            responses.setdefault(code, {"description": description,
                                        "content": {"application/json": {"schema": ERROR_SCHEMA}}})
        return responses


# --- Throttling ------------------------------------------------------------------------------------


def client_address(request) -> str | None:
    """The caller's address: the peer's, or the one DJANGO_NUM_PROXIES trusted proxies put in
    X-Forwarded-For (a client cannot choose it). The throttles and the login lockout both use it."""
    return BaseThrottle().get_ident(request)


class _CacheScopedThrottle(SimpleRateThrottle):
    """Counts requests per scope and per user (or client address when anonymous) in the default
    cache: Redis in production, so every web process shares the counters."""

    # A scope that REST_FRAMEWORK does not rate is a configuration error, unless the throttle is optional.
    optional = False

    def get_rate(self):
        # Read at request time (not class creation) so a settings change applies without a restart.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            if self.optional:
                return None  # no rate: SimpleRateThrottle lets every request through
            raise ImproperlyConfigured(f"No throttle rate for scope {self.scope!r} in REST_FRAMEWORK")

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRateThrottle(_CacheScopedThrottle):
    """Token requests per client address, whoever asks (generous: one office can share an address)."""

    scope = "token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenUserRateThrottle(_CacheScopedThrottle):
    """Token requests per account: the username asked for (no one is signed in yet), so guessing one
    account's password is slowed wherever the guesses come from, and colleagues never share a count."""

    scope = "token_user"
    optional = True

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None  # nothing to count per account: the address throttle still applies
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


class UploadRateThrottle(_CacheScopedThrottle):
    scope = "upload"


# --- Paging ----------------------------------------------------------------------------------------


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


# --- Fields --------------------------------------------------------------------------------------------

_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,80}")


@extend_schema_field(OpenApiTypes.STR)
class MyOrganisationField(serializers.SlugRelatedField):
    """An organisation's slug in a request body, looked up among the caller's organisations only:
    another organisation's slug reads exactly like one that does not exist. The role check comes
    after, in the view (`require_role`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        kwargs.setdefault("help_text", "The organisation's slug")
        super().__init__(**kwargs)

    def get_queryset(self):
        user = self.context["request"].user
        return Organisation.objects.filter(pk__in=memberships_of(user).values("organisation_id"))

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _SLUG.fullmatch(data):  # never a query for junk (NUL bytes...)
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data))
        return super().to_internal_value(data)


# --- Permissions for platform-level objects (models, datasets, audits) --------------------------------


def is_platform_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


class MemberReadPlatformAdminWrite(permissions.BasePermission):
    """Read for anyone who belongs to an organisation (or is staff); write for platform admins."""

    message = "Only platform administrators (staff) may change models, datasets, evaluations and audits."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            if is_platform_admin(user) or memberships_of(user).exists():
                return True
            self.message = "You are not a member of any organisation."
            return False
        return is_platform_admin(user)


# --- The bases of every API view: errors, and rows sealed behind one hook ----------------------------


class ApiViewMixin:
    """JSON errors and the documented error answers, for every API view."""

    schema = Emo7ionAutoSchema()

    def get_exception_handler(self):
        return api_exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever format was asked for (a client reads one shape), and so is any
        # data answered where CSV was negotiated (e.g. OPTIONS): CSV views stream their own body.
        if isinstance(response, Response) and (
                response.status_code >= 400 or getattr(getattr(request, "accepted_renderer", None), "format", "") == "csv"):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


SEALED_METHODS = ("get_queryset", "get_object")
_SEALING_BASES: set[type] = set()


class SealedRowsMixin(ApiViewMixin):
    """Who sees which rows is decided once, in a sealing base (`class X(SealedRowsMixin, seals=True)`),
    never by an endpoint (PostHog's `TeamAndOrgViewSetMixin.__init_subclass__`): a class whose
    `get_queryset` or `get_object` would come from anywhere but a sealing base (its own override, or
    a mixin in front) is refused when Python creates it. An endpoint names its rows in the one hook,
    `get_base_queryset()` (select_related, annotate, filter); the base scopes them.

    Schema generation only: an action that lists other rows than the viewset's model names them
    with `@action(queryset=Model.objects.none())`, so the documented filters fit the model."""

    def __init_subclass__(cls, seals: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if seals:
            _SEALING_BASES.add(cls)
            return
        for name in SEALED_METHODS:
            owner = next((klass for klass in cls.__mro__ if name in vars(klass)), None)
            if owner is not None and owner not in _SEALING_BASES:
                raise TypeError(f"{cls.__qualname__} may not take {name} from {owner.__qualname__}: the rows an "
                                "API endpoint sees are decided by its base; narrow them in get_base_queryset()")

    def get_base_queryset(self):
        """The model's rows before scoping; subclasses narrow (select_related, annotate, filter)."""
        raise NotImplementedError

    def schema_queryset(self):
        """No user, no rows: what the schema generator introspects."""
        return (self.queryset if self.queryset is not None else self.get_base_queryset()).none()


class PlatformRecordsMixin(SealedRowsMixin, seals=True):
    """Platform records (model versions, datasets, evaluations, bias audits): no organisation owns
    them, so no tenancy scope; every member reads them, platform admins (staff) change them."""

    permission_classes = [MemberReadPlatformAdminWrite]
    pagination_class = Pagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.schema_queryset()
        return self.get_base_queryset()

    def get_object(self):
        # DRF's lookup over get_queryset(), defined here so that nothing can be put in front of it.
        return super().get_object()


class OrganisationScopedMixin(SealedRowsMixin, seals=True):
    """The base of every organisation-owned endpoint (see the module's docstring)."""

    org_path: str = "organisation"
    # DRF action -> accounts.permissions action, or {http method: action} for multi-method actions.
    action_permissions: dict[str, str | dict[str, str]] = {}
    pagination_class = Pagination

    def required_permission(self) -> str:
        table = {"metadata": VIEW, **self.action_permissions}
        spec = table.get(self.action)
        if isinstance(spec, dict):
            spec = spec.get(self.request.method.lower())
        if spec is None:
            raise ImproperlyConfigured(f"{type(self).__name__}.{self.action} ({self.request.method}) "
                                       "has no entry in action_permissions")
        return spec

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.schema_queryset()
        # Lists show only organisations where the role allows the action (e.g. webhooks: admins);
        # a detail lookup sees every organisation the user belongs to, then get_object checks the role.
        action = VIEW if self.detail else self.required_permission()
        return scope_to_user(self.get_base_queryset(), self.request.user, self.org_path, action)

    def get_object(self):
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        obj = get_for_user(self.get_base_queryset(), self.request.user, org_path=self.org_path,
                           action=self.required_permission(), **{self.lookup_field: self.kwargs[lookup_url_kwarg]})
        self.check_object_permissions(self.request, obj)
        return obj

    def require_role(self, organisation, action: str) -> str:
        """For writes that name their organisation (or parent) in the payload: 404 when the caller
        is not a member, 403 when their role does not allow `action`. Returns the role."""
        role = role_in(self.request.user, organisation.pk)
        if role is None:
            raise Http404
        if not role_allows(role, action):
            raise PermissionDenied("Your role in this organisation does not allow that.")
        return role

    # Actions that receive files (or start receiving them): throttled per user under "upload".
    upload_actions: tuple[str, ...] = ()

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action in self.upload_actions and self.request.method == "POST":
            throttles = [*throttles, UploadRateThrottle()]
        return throttles
