"""The production layout (issue 15): `manage.py serve` starts daphne, a Celery worker, beat and the live
worker; every child is gone within seconds of Ctrl-C whatever it does with signals (also `make demo`'s);
the demo has a platform-admin login; the load benchmark runs, bounded, against a site on loopback."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests
from django.core.management import call_command
from django.test import Client

from accounts.models import Role
from analysis.management.processes import ProcessGroup, worker_queues
from tests.api.conftest import add_results
from tests.conftest import PY, ROOT, free_port, wait_for_port
from tests.factories import (DEFAULT_PASSWORD, AnalysisFactory, FootageFactory, OrganisationFactory, ProjectFactory,
                             member_of)

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_load  # noqa: E402


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_starts_daphne_a_worker_on_every_queue_beat_and_the_live_worker(settings):
    settings.EMO7ION_LIVE_WORKER = "external"
    out = io.StringIO()
    call_command("serve", "--dry-run", "--port", "8123", "--worker-concurrency", "2", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert list(lines) == ["web", "worker", "beat", "live worker"]
    assert "-m daphne" in lines["web"] and lines["web"].endswith("-b 127.0.0.1 -p 8123 emo7ion_site.asgi:application")
    assert f"worker -Q {','.join(worker_queues())} --concurrency 2" in lines["worker"]
    assert set(worker_queues()) >= {"default", "ml"}
    assert " beat " in lines["beat"] and lines["live worker"].endswith("manage.py live_worker")

    settings.EMO7ION_LIVE_WORKER = "embedded"  # the ASGI server runs it: no process of its own
    out = io.StringIO()
    call_command("serve", "--dry-run", "--no-beat", stdout=out)
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["web", "worker"]


def running_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (a killed orphan is a zombie until someone reaps it)."""
    pids = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    running = []
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.append(int(pid))
    return running


STUBBORN = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(child.pid, flush=True)
    time.sleep(600)
""")


def test_children_and_their_children_are_gone_within_5_s_of_a_stop_whatever_they_do(tmp_path):
    said = []
    group = ProcessGroup(cwd=str(tmp_path), env={**os.environ}, grace_s=2.0, say=said.append)
    polite = group.start("polite", [PY, "-c", "import time; time.sleep(600)"])
    stubborn = group.start("stubborn", [PY, "-c", STUBBORN], stop_signal=signal.SIGINT)
    time.sleep(1.0)  # let the stubborn one start its own child
    pids = [polite.process.pid, stubborn.process.pid]
    started = time.monotonic()
    group.stop()
    took = time.monotonic() - started

    assert not any(alive(pid) for pid in pids)
    assert said == ["stubborn did not stop within 2 s; killing it."]
    # The stubborn child's own child went with its process group (killed: gone once init has reaped it).
    while running_in_group(stubborn.process.pid):
        assert time.monotonic() - started < 5.0, "a grandchild outlived the stop"
        time.sleep(0.05)
    assert took < 5.0, took


def test_a_child_that_exits_stops_the_others(tmp_path):
    from analysis.management.processes import ProcessExited
    group = ProcessGroup(cwd=str(tmp_path), env={**os.environ}, grace_s=2.0, say=lambda m: None)
    with group:
        long_running = group.start("site", [PY, "-c", "import time; time.sleep(600)"])
        group.start("worker", [PY, "-c", "raise SystemExit(3)"])
        with pytest.raises(ProcessExited, match=r"worker stopped \(exit code 3\)"):
            group.wait(poll_s=0.05)
    assert not alive(long_running.process.pid)


def test_the_demo_has_a_platform_admin_for_the_ml_pages(db):
    from analysis.management.commands.demo import DEMO_ADMIN_USERNAME, demo_admin_password, demo_platform_admin

    demo_platform_admin()
    admin = demo_platform_admin()  # idempotent: the same account, the printed password
    client = Client()
    assert client.login(username=DEMO_ADMIN_USERNAME, password=demo_admin_password())
    assert admin.is_staff and client.get("/ml/").status_code == 200
    assert client.get("/ml/models/").status_code == 200


@pytest.fixture
def readers(transactional_db):
    organisation = OrganisationFactory()
    users = [member_of(organisation, Role.VIEWER) for _ in range(3)]
    project = ProjectFactory(organisation=organisation, created_by=users[0])
    analysis = AnalysisFactory(footage=FootageFactory(project=project), status="succeeded", progress=1.0)
    add_results(analysis)
    return [(u.username, DEFAULT_PASSWORD) for u in users]


def test_the_load_benchmark_runs_bounded_against_a_site_on_loopback(live_server, readers):
    result = bench_load.run_load(live_server.url, readers, users=6, seconds=3, think_s=0.05)

    assert result["users"] == 6 and result["users_failed"] == []
    assert 2.5 < result["seconds"] < 10
    assert result["requests"] > 20 and result["requests_per_s"] > 0
    assert result["errors_5xx"] == 0 and result["no_answer"] == 0
    assert set(result["status_codes"]) == {"200"}, result["status_codes"]
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]
    assert {"page: analysis report", "api: analysis", "api: timeline"} <= set(result["by_kind"])


def test_the_load_benchmark_loads_only_this_machine():
    with pytest.raises(SystemExit, match="not a loopback address"):
        bench_load.require_loopback("http://192.0.2.1:8000")
    bench_load.require_loopback("http://localhost:8000")


@pytest.mark.slow
def test_serve_answers_through_daphne_and_stops_within_5_s_of_ctrl_c(tmp_path):
    """The real thing: `manage.py serve` (web only) answers HTTP with the security headers, and SIGINT to its
    process group (what Ctrl-C in a terminal sends) leaves nothing running within 5 s."""
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test", "EMO7ION_LIVE_WORKER": "external"}
    serve = subprocess.Popen([PY, "manage.py", "serve", "--port", str(port), "--no-worker", "--no-beat",
                              "--no-live-worker", "--grace", "3"], cwd=ROOT, env=env, start_new_session=True,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=120)
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1/", timeout=30)
        assert answer.status_code == 401 and "default-src 'self'" in answer.headers["Content-Security-Policy"]
        started = time.monotonic()
        os.killpg(serve.pid, signal.SIGINT)
        serve.wait(10)
        assert time.monotonic() - started < 5.0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)  # serve stops its children, then itself
        serve.wait(15)
        log.close()
