"""Content-Security-Policy on every page (issue 15): scripts only from this site or inline with the
response's nonce; the pages and the offline Swagger UI keep to it. And the production settings' HTTPS
rules, as a browser behind the proxy meets them.

What a browser reports (a CSP violation in its console) is checked by the browser tests: see
tests/browser/ (Playwright's page.on("console") collects "Content Security Policy" errors)."""
import re

import pytest
from django.test import Client, override_settings

from accounts.models import Role
from tests.api.conftest import add_results
from tests.factories import (AnalysisFactory, FootageFactory, OrganisationFactory, ProjectFactory,
                             TrainingRunFactory, TuningRunFactory, UserFactory, member_of)

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
ATTRIBUTE = re.compile(r'([a-zA-Z-]+)(?:="([^"]*)")?')


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def assert_keeps_to_its_policy(response) -> None:
    """Every script the page would run is either a file from this site or carries the header's nonce."""
    assert response.status_code == 200, response.status_code
    directives = policy(response)
    html = response.content.decode()
    nonces = {source[len("'nonce-"):-1] for source in directives["script-src"] if source.startswith("'nonce-")}
    for match in SCRIPT_TAG.finditer(html):
        attrs = dict((k.lower(), v) for k, v in ATTRIBUTE.findall(match.group(1)))
        if "src" in attrs:
            assert attrs["src"].startswith("/") and not attrs["src"].startswith("//"), attrs["src"]  # this site
        elif attrs.get("type") != "application/json":  # a data block is never run: no nonce needed
            assert attrs.get("nonce") in nonces, f"inline script without the response's nonce: {match.group(0)}"
    assert not re.search(r"\son[a-z]+\s*=", re.sub(r"<script\b.*?</script>", "", html, flags=re.S | re.I)), \
        "inline event handler attribute"
    assert "javascript:" not in html


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def member(db):
    organisation = OrganisationFactory()
    user = member_of(organisation, Role.OWNER)
    user.project = ProjectFactory(organisation=organisation, created_by=user)
    user.analysis = AnalysisFactory(footage=FootageFactory(project=user.project), status="succeeded", progress=1.0)
    add_results(user.analysis)  # the report draws its charts (JSON data blocks and a script file)
    return user


def test_the_policy_allows_scripts_only_from_this_site_or_with_the_nonce(client, db):
    directives = policy(client.get("/accounts/login/"))
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"][0] == "'self'" and len(directives["script-src"]) <= 2
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"] and directives["form-action"] == ["'self'"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password_reset/", "/api/docs/", "/admin/login/"])
def test_public_pages_keep_to_the_policy(client, db, path):
    assert_keeps_to_its_policy(client.get(path))


def test_the_swagger_ui_runs_its_inline_script_with_the_nonce(client, db):
    page = client.get("/api/docs/")
    html = page.content.decode()
    nonce = next(s for s in policy(page)["script-src"] if s.startswith("'nonce-"))[len("'nonce-"):-1]
    assert f'<script nonce="{nonce}">' in html and "SwaggerUIBundle(" in html
    assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
    assert nonce not in client.get("/api/docs/")["Content-Security-Policy"]  # a new nonce per response


def test_member_pages_keep_to_the_policy(client, member):
    client.force_login(member)
    for path in ("/", "/accounts/organisations/", f"/projects/{member.project.pk}/",
                 f"/projects/{member.project.pk}/report/", f"/analyses/{member.analysis.pk}/"):
        assert_keeps_to_its_policy(client.get(path))


def test_ml_pages_with_inline_scripts_keep_to_the_policy(client, staff):
    client.force_login(staff)
    training, tuning = TrainingRunFactory(status="running"), TuningRunFactory(status="running")
    for path in ("/ml/", "/ml/datasets/", "/ml/models/", f"/ml/training/{training.pk}/", f"/ml/tuning/{tuning.pk}/"):
        assert_keeps_to_its_policy(client.get(path))


def test_api_answers_carry_the_policy_too(client, db):
    assert "default-src 'self'" in client.get("/api/v1/projects/")["Content-Security-Policy"]


# --- HTTPS behind the proxy (production settings) ---------------------------------------------------------

HTTPS = {"SECURE_SSL_REDIRECT": True, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
         "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
         "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True}


@override_settings(**HTTPS)
def test_plain_http_is_redirected_and_https_through_the_proxy_gets_hsts(db):
    plain = Client().get("/accounts/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/accounts/login/"

    secure = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies["csrftoken"]["secure"]


@override_settings(**HTTPS)
def test_the_session_cookie_is_secure_and_http_only(db):
    user = UserFactory()
    answer = Client().post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery-staple"},
                           HTTP_X_FORWARDED_PROTO="https")
    assert answer.status_code == 302
    assert answer.cookies["sessionid"]["secure"] and answer.cookies["sessionid"]["httponly"]
