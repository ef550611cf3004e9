"""Print the environment `make test` runs under, as KEY=VALUE lines.

With CI set, PostgreSQL and Redis are required (the tests fail if they do not answer);
otherwise they are used when they answer on their standard ports and skipped when not,
so `make test` also runs on a fresh machine with no services.
"""
import os
import socket
from pathlib import Path


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


ci = bool(os.environ.get("CI"))
env = {"DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test"}
if ci or answers(5432):
    env["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
if ci or answers(6379):
    env["CELERY_BROKER_URL"] = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/0")
    env["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
yunet = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "yunet" / "yunet_n_640_640.onnx"
if yunet.is_file():
    env["EMO7ION_YUNET_MODEL"] = str(yunet)
for key, value in env.items():
    print(f"{key}={value}")
