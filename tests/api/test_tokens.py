"""API tokens (issue 15): stored as a digest, never in plain text; each expires and can be revoked; the
token endpoint is throttled per account and per address, so colleagues behind one address are not
throttled as one; tokens from before (DRF's plain-text table) keep working after the migration."""
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import DEFAULT_PASSWORD, UserFactory

TOKEN_URL = "/api/v1/auth/token/"


def token_for(user, client=None, **extra) -> str:
    answer = (client or APIClient()).post(TOKEN_URL, {"username": user.username, "password": DEFAULT_PASSWORD},
                                          format="json", **extra)
    assert answer.status_code == 200, answer.json()
    return answer.json()["token"]


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_is_stored_only_as_its_digest(world):
    user = world.users["viewer"]
    token = token_for(user)

    row = AuthToken.objects.get(user=user)
    assert row.digest == hash_token(token) and len(row.digest) == 128
    assert row.token_key == token[:15] and len(token) > 60 and token.startswith("emo7_")
    # Nothing in the table holds the token itself.
    stored = [str(v) for v in AuthToken.objects.filter(user=user).values_list("digest", "token_key", "created",
                                                                               "expiry").get()]
    assert not any(token in value for value in stored)
    assert with_token(token).get("/api/v1/organisations/").status_code == 200


def test_a_token_expires_after_the_configured_days(world):
    user = world.users["viewer"]
    answer = APIClient().post(TOKEN_URL, {"username": user.username, "password": DEFAULT_PASSWORD}, format="json")
    expiry = AuthToken.objects.get(user=user).expiry
    assert abs(expiry - (timezone.now() + settings.REST_KNOX["TOKEN_TTL"])) < timedelta(minutes=1)
    assert answer.json()["expiry"].startswith(expiry.date().isoformat())

    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    refused = with_token(answer.json()["token"]).get("/api/v1/organisations/")
    assert refused.status_code == 401 and refused.json() == {"detail": "Invalid token."}
    assert not AuthToken.objects.filter(user=user).exists()  # an expired token is removed


def test_a_revoked_token_is_rejected(world):
    user = world.users["analyst"]
    first, second = token_for(user), token_for(user)
    client = with_token(first)

    assert client.delete(TOKEN_URL).status_code == 204  # revokes the token this request used
    assert client.get("/api/v1/projects/").status_code == 401
    assert with_token(second).get("/api/v1/projects/").status_code == 200  # the other one still works
    assert AuthToken.objects.filter(user=user).count() == 1


def test_tokens_are_listed_by_their_first_characters_and_revoked_one_by_one(world):
    user, other = world.users["analyst"], world.users["viewer"]
    mine, current = token_for(user), token_for(user)
    theirs = token_for(other)
    client = with_token(current)

    listed = client.get("/api/v1/auth/tokens/").json()
    assert {(t["token_key"], t["current"]) for t in listed} == {(current[:15], True), (mine[:15], False)}
    assert all(set(t) == {"token_key", "created", "expiry", "current"} for t in listed)
    assert mine not in str(listed) and current not in str(listed)

    assert client.delete(f"/api/v1/auth/tokens/{theirs[:15]}/").status_code == 404  # not yours: not found
    assert with_token(theirs).get("/api/v1/projects/").status_code == 200
    assert client.delete(f"/api/v1/auth/tokens/{mine[:15]}/").status_code == 204
    assert with_token(mine).get("/api/v1/projects/").status_code == 401
    assert [t["token_key"] for t in client.get("/api/v1/auth/tokens/").json()] == [current[:15]]


def test_token_routes_need_a_caller_and_a_session_has_no_token_to_revoke(world):
    assert APIClient().get("/api/v1/auth/tokens/").status_code == 401
    assert APIClient().delete(TOKEN_URL).status_code == 401
    session = APIClient()
    session.force_authenticate(world.users["viewer"])
    refused = session.delete(TOKEN_URL)
    assert refused.status_code == 400 and "not made with an API token" in refused.json()["detail"]


def test_colleagues_behind_one_address_are_not_throttled_together(world):
    """21 people of one office (one NAT address) each ask for a token: nobody gets a 429."""
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"] == "120/min"  # per address
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token_user"] == "10/min"  # per account
    colleagues = UserFactory.create_batch(21)
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    codes = [client.post(TOKEN_URL, {"username": u.username, "password": DEFAULT_PASSWORD}, format="json").status_code
             for u in colleagues]
    assert codes == [200] * 21


def test_one_account_is_throttled_on_its_own_wherever_its_requests_come_from(world):
    user, colleague = world.users["viewer"], world.users["analyst"]
    body = {"username": user.username, "password": DEFAULT_PASSWORD}
    codes = [APIClient(REMOTE_ADDR=f"198.51.100.{n}").post(TOKEN_URL, body, format="json").status_code
             for n in range(11)]
    assert codes == [200] * 10 + [429]
    # The same address asks for a colleague's token: not throttled.
    assert APIClient(REMOTE_ADDR="198.51.100.10").post(
        TOKEN_URL, {"username": colleague.username, "password": DEFAULT_PASSWORD}, format="json").status_code == 200


def test_a_case_changed_username_counts_as_the_same_account(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token_user": "2/min"}}
    name = world.users["viewer"].username
    codes = [APIClient().post(TOKEN_URL, {"username": n, "password": "wrong"}, format="json").status_code
             for n in (name, name.upper(), f" {name} ")]
    assert codes == [400, 400, 429]


def test_plain_tokens_from_before_are_migrated_to_digests(world):
    """A database made before django-rest-knox kept DRF's tokens in plain text: the migration copies
    them as digests (the clients' tokens keep working) and drops the plain-text table."""
    user = world.users["viewer"]
    old_key = "0123456789abcdef0123456789abcdef01234567"  # DRF's format: 40 hex digits
    table = connection.ops.quote_name("authtoken_token")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)")
        cursor.execute(f"INSERT INTO {table} (key, created, user_id) VALUES (%s, %s, %s)",
                       [old_key, timezone.now(), user.pk])
    migration = importlib.import_module("accounts.migrations.0004_api_tokens_hashed")

    assert migration.copy_plain_tokens(apps, connection) == 1
    assert "authtoken_token" not in connection.introspection.table_names()
    row = AuthToken.objects.get(user=user)
    assert row.digest == hash_token(old_key) and row.expiry > timezone.now() + timedelta(days=29)
    assert with_token(old_key).get("/api/v1/organisations/").status_code == 200
    assert migration.copy_plain_tokens(apps, connection) == 0  # a database without the table: nothing to do


@pytest.mark.django_db
def test_a_token_for_a_deactivated_account_stops_working():
    user = UserFactory()
    _, token = api_token_create(user=user)
    assert with_token(token).get("/api/v1/auth/tokens/").status_code == 200
    user.is_active = False
    user.save()
    assert with_token(token).get("/api/v1/auth/tokens/").status_code == 401
