"""Login lockout (issue 15): after EMO7ION_LOGIN_FAILURE_LIMIT failed sign-ins for one account from one
address, that pair is refused, with a message that says why and for how long, on the sign-in page and
the API's token endpoint alike; other addresses and other accounts are not affected."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, UserFactory

MESSAGE = ("Too many failed sign-in attempts for this account from your address: signing in is locked for 15 "
           "minutes. Wait and try again, or reset your password (“Forgotten your password?” on the sign-in page).")


@pytest.fixture
def person(db):
    return UserFactory(username="pat")


def sign_in(client: Client, password: str, username: str = "pat"):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_the_limit_and_the_lockout_time_are_settings():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


def test_five_failed_sign_ins_lock_the_account_from_that_address(person):
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(4):
        answer = sign_in(client, "wrong")
        assert answer.status_code == 200 and "Please enter a correct username and password" in answer.content.decode()

    locked = sign_in(client, "wrong")
    assert locked.status_code == 429
    assert MESSAGE in locked.content.decode()  # on the sign-in page, as a person sees it
    assert locked["Retry-After"] == str(15 * 60)
    # The right password does not get in either, while the lockout lasts.
    again = sign_in(client, DEFAULT_PASSWORD)
    assert again.status_code == 429 and MESSAGE in again.content.decode()
    assert "_auth_user_id" not in client.session

    # Another address, or another account from this address, is not affected.
    assert sign_in(Client(REMOTE_ADDR="192.0.2.99"), DEFAULT_PASSWORD).status_code == 302
    UserFactory(username="sam")
    assert sign_in(client, DEFAULT_PASSWORD, username="sam").status_code == 302


def test_the_lockout_ends_after_the_cool_off(person):
    client = Client(REMOTE_ADDR="192.0.2.11")
    for _ in range(5):
        sign_in(client, "wrong")
    assert sign_in(client, DEFAULT_PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert sign_in(client, DEFAULT_PASSWORD).status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(person):
    client = Client(REMOTE_ADDR="192.0.2.12")
    for _ in range(4):
        sign_in(client, "wrong")
    assert sign_in(client, DEFAULT_PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert sign_in(client, "wrong").status_code == 200
    assert sign_in(client, DEFAULT_PASSWORD).status_code == 302


def test_the_api_token_endpoint_locks_out_too_with_a_json_message(person):
    client = APIClient(REMOTE_ADDR="192.0.2.13")
    body = {"username": "pat", "password": "wrong"}
    codes = [client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 400, 429]

    locked = client.post("/api/v1/auth/token/", {"username": "pat", "password": DEFAULT_PASSWORD}, format="json")
    assert locked.status_code == 429
    assert locked.json() == {"detail": MESSAGE}
    assert locked["Retry-After"] == str(15 * 60)
    # The sign-in page shares the count: the pair is locked there as well.
    assert sign_in(Client(REMOTE_ADDR="192.0.2.13"), DEFAULT_PASSWORD).status_code == 429
    other_address = APIClient(REMOTE_ADDR="192.0.2.14")
    assert other_address.post("/api/v1/auth/token/", {"username": "pat", "password": DEFAULT_PASSWORD},
                              format="json").status_code == 200


def test_signing_in_without_a_request_is_not_an_attempt_from_an_address(person):
    """The test client's login(), a shell or a command: nothing to lock, and it still works."""
    from django.contrib.auth import authenticate
    for _ in range(6):
        assert authenticate(username="pat", password="wrong") is None
    assert authenticate(username="pat", password=DEFAULT_PASSWORD) == person
    assert not AccessAttempt.objects.exists()
