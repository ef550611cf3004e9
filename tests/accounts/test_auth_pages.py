"""Sign in, sign out, password change and password reset by email, through the real pages."""
import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_in_page_and_sign_in(client):
    user = UserFactory()
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Sign in" in page.content and b"Forgotten your password?" in page.content
    target = reverse("organisation_list")
    response = client.post(reverse("login") + f"?next={target}",
                           {"username": user.username, "password": DEFAULT_PASSWORD, "next": target})
    assert response.status_code == 302 and response["Location"] == target
    assert client.get(target).context["user"] == user


def test_sign_in_without_next_lands_on_the_dashboard(client):
    user = UserFactory()
    response = client.post(reverse("login"), {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_wrong_password_says_so_and_signs_nobody_in(client):
    user = UserFactory()
    response = client.post(reverse("login"), {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content
    assert not response.context["user"].is_authenticated


def test_pages_need_sign_in(client):
    response = client.get(reverse("organisation_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_sign_out_is_a_post(client):
    client.force_login(UserFactory())
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("organisation_list")).status_code == 302


def test_layout_links_to_organisations_and_signs_out_by_post(client):
    client.force_login(UserFactory())
    html = client.get(reverse("organisation_list")).content.decode()
    assert f'href="{reverse("organisation_list")}"' in html
    assert re.search(r'<form method="post" action="%s"' % reverse("logout"), html)


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("password_change")).status_code == 200
    bad = client.post(reverse("password_change"), {"old_password": "wrong", "new_password1": "n3w-Secret-words",
                                                   "new_password2": "n3w-Secret-words"})
    assert bad.status_code == 200 and b"old password was entered incorrectly" in bad.content
    ok = client.post(reverse("password_change"), {"old_password": DEFAULT_PASSWORD,
                                                  "new_password1": "n3w-Secret-words",
                                                  "new_password2": "n3w-Secret-words"})
    assert ok.status_code == 302 and ok["Location"] == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password("n3w-Secret-words")
    assert client.get(reverse("password_change_done")).status_code == 200


def test_password_reset_by_emailed_link(client):
    user = UserFactory(email="reset.me@example.com")
    assert client.get(reverse("password_reset")).status_code == 200
    response = client.post(reverse("password_reset"), {"email": "reset.me@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert b"Check your email" in client.get(reverse("password_reset_done")).content

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reset.me@example.com"] and message.subject == "Reset your Emo7ion password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/\S+/)", message.body).group(1)

    # Django swaps the token for a session marker, then shows the form.
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": "Fresh-pass-2026",
                                                         "new_password2": "Fresh-pass-2026"})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("Fresh-pass-2026")

    # The link works once.
    again = client.get(link, follow=True)
    assert not again.context["validlink"] and b"no longer works" in again.content


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []
