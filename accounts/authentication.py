"""API token authentication: `Authorization: Token <token>`, checked against a SHA-512 digest
(django-rest-knox). Expired tokens are refused (and deleted); revoked ones no longer exist."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class HashedTokenAuthentication(TokenAuthentication):
    """knox's authentication under our name, so the schema calls it `tokenAuth` as it always has."""

    def authenticate_credentials(self, token: bytes):
        # knox hashes whatever it is given; a header that is not text is simply a wrong token.
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = HashedTokenAuthentication
    name = "tokenAuth"
    priority = 1  # before drf-spectacular's own knox extension ("knoxApiToken")

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
