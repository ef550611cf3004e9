"""manage.py create_organisation, run as a real process and in-process."""
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Membership, Organisation, Role
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_organisation", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_creates_organisation_and_new_owner_with_password():
    out, _ = run("City Events", "--owner", "alice", "--email", "alice@example.com", "--password", "Harbour-lights-7")
    org = Organisation.objects.get(name="City Events")
    alice = get_user_model().objects.get(username="alice")
    assert alice.email == "alice@example.com" and alice.check_password("Harbour-lights-7")
    assert Membership.objects.get(organisation=org, user=alice).role == Role.OWNER
    assert "Created user 'alice'" in out and "Created organisation 'City Events' (slug city-events)" in out


def test_generates_and_prints_a_password_when_none_is_given():
    out, _ = run("Gen Org", "--owner", "bob")
    password = out.split("Generated password for 'bob': ")[1].split()[0]
    assert get_user_model().objects.get(username="bob").check_password(password)


def test_existing_user_keeps_their_password():
    carol = UserFactory(username="carol")
    out, _ = run("Carol Co", "--owner", "carol", "--password", "Ignored-pass-99")
    carol.refresh_from_db()
    assert carol.check_password(DEFAULT_PASSWORD)
    assert "password is unchanged" in out and "--password was ignored" in out
    assert Membership.objects.get(user=carol).role == Role.OWNER


def test_json_output_is_one_object_on_stdout():
    out, err = run("Json Org", "--owner", "dave", "--password", "Harbour-lights-7", "--json")
    payload = json.loads(out)
    org = Organisation.objects.get(slug="json-org")
    assert payload == {"organisation": {"id": org.pk, "name": "Json Org", "slug": "json-org"},
                       "owner": {"id": get_user_model().objects.get(username="dave").pk, "username": "dave",
                                 "email": "", "created": True},
                       "password": None}
    assert "Created organisation" in err


def test_weak_password_is_refused_and_nothing_is_created():
    with pytest.raises(CommandError, match="password is not accepted"):
        run("Weak Org", "--owner", "erin", "--password", "123")
    assert not Organisation.objects.exists() and not get_user_model().objects.filter(username="erin").exists()


def test_duplicate_name_is_refused():
    run("Twice", "--owner", "frank", "--password", "Harbour-lights-7")
    with pytest.raises(CommandError, match="already exists"):
        run("twice", "--owner", "frank")
    assert Organisation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_as_a_real_process_with_help_and_json():
    from tests.conftest import _database_url_of_test_db
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test",
           "DATABASE_URL": _database_url_of_test_db()}
    help_text = subprocess.run([sys.executable, "manage.py", "create_organisation", "--help"], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=True).stdout
    assert "--owner" in help_text and "--json" in help_text
    done = subprocess.run([sys.executable, "manage.py", "create_organisation", "Proc Org", "--owner", "gina",
                           "--password", "Harbour-lights-7", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["organisation"]["slug"] == "proc-org"
    assert Membership.objects.get(organisation__slug="proc-org").user.username == "gina"
    failed = subprocess.run([sys.executable, "manage.py", "create_organisation", "Proc Org", "--owner", "gina"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "already exists" in failed.stderr
