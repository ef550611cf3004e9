"""`manage.py check --deploy` is clean under the production settings with the variables the README
documents (issue 15: HSTS, SSL redirect behind the proxy header, secure cookies), in a fresh process with
nothing else in its environment; the development settings are not, so the check does look."""
import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT

DOCUMENTED = {
    "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "emo7ion.example.org",
}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    bare = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=bare, capture_output=True, text=True, timeout=300)


def test_check_deploy_is_clean_under_production_settings_with_the_documented_variables():
    result = check_deploy(DOCUMENTED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_does_warn_under_the_development_settings():
    result = check_deploy({"DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.local"})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016", "security.W018"):
        assert warning in result.stderr, result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = check_deploy({k: v for k, v in DOCUMENTED.items() if k != "DJANGO_SECRET_KEY"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
