"""Load benchmark: many people browsing reports and polling the API at once, over real HTTP.

Each virtual user signs in (a session for the pages, an API token for the API), then, until the time is
up, opens the analysis report, the project page and the project report, polls the analysis' status and
reads the analysis, its timeline and the project list through the API, pausing a little between requests
(`--think-s`, on average). Prints one JSON object: requests per second, latency percentiles, answers by
status code and the number of 5xx answers, overall and per kind of request.

    python benchmarks/bench_load.py                    # its own server (manage.py serve) and data: 50 users, 2 min
    python benchmarks/bench_load.py --seconds 10 --users 20
    python benchmarks/bench_load.py --url http://127.0.0.1:8000 --username demo --password emo7ion-demo

With `--url` it loads a site that is already running (e.g. `make serve-prod`, with DJANGO_SECURE_SSL_REDIRECT,
SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE off, since this client speaks plain HTTP). Only loopback
addresses are accepted: this is a tool for one machine, never for someone else's server. Requests are
bounded by `--seconds`; the run stops by itself.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlparse

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIMEOUT_S = 30.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def require_loopback(base_url: str) -> None:
    host = urlparse(base_url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"{base_url} is not a loopback address: this benchmark only loads a site on this machine.")


class Client:
    """One virtual user: a session cookie for the pages and a token for the API."""

    def __init__(self, base_url: str, username: str, password: str, token: str):
        self.base = base_url.rstrip("/")
        self.http = requests.Session()  # the pages: a signed-in session
        self.api = requests.Session()  # the API: a token, no cookies
        self.api.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
        self._sign_in(username, password)

    def _sign_in(self, username: str, password: str) -> None:
        self.http.get(f"{self.base}/accounts/login/", timeout=TIMEOUT_S).raise_for_status()
        answer = self.http.post(f"{self.base}/accounts/login/", timeout=TIMEOUT_S, allow_redirects=False,
                                data={"username": username, "password": password,
                                      "csrfmiddlewaretoken": self.http.cookies.get("csrftoken", "")},
                                headers={"Referer": f"{self.base}/accounts/login/"})
        if answer.status_code != 302:
            raise RuntimeError(f"signing in as {username} answered {answer.status_code}, not a redirect")

    def get(self, path: str, api: bool) -> tuple[int, float]:
        started = time.perf_counter()
        try:
            answer = (self.api if api else self.http).get(f"{self.base}{path}", timeout=TIMEOUT_S)
            answer.content  # noqa: B018  (the whole body, as a browser would read it)
            status = answer.status_code
        except requests.RequestException:
            status = 0  # no answer at all: counted as an error
        return status, time.perf_counter() - started


def api_token(base_url: str, username: str, password: str) -> str:
    answer = requests.post(f"{base_url.rstrip('/')}/api/v1/auth/token/", timeout=TIMEOUT_S,
                           json={"username": username, "password": password})
    answer.raise_for_status()
    return answer.json()["token"]


def find_targets(base_url: str, token: str) -> tuple[int, int]:
    """(analysis id, project id) of a finished analysis the account can see."""
    answer = requests.get(f"{base_url.rstrip('/')}/api/v1/analyses/?status=succeeded",
                          headers={"Authorization": f"Token {token}"}, timeout=TIMEOUT_S)
    answer.raise_for_status()
    results = answer.json()["results"]
    if not results:
        raise SystemExit("The account sees no finished analysis to report on (run `make demo` once, or omit --url).")
    return results[0]["id"], results[0]["project"]


def routes(analysis_id: int, project_id: int) -> list[tuple[str, str, bool]]:
    """(kind, path, is_api) in the order a person clicks and a dashboard polls."""
    return [
        ("page: analysis report", f"/analyses/{analysis_id}/", False),
        ("api: analysis", f"/api/v1/analyses/{analysis_id}/", True),
        ("page: analysis status (poll)", f"/analyses/{analysis_id}/status/", False),
        ("page: project", f"/projects/{project_id}/", False),
        ("api: timeline", f"/api/v1/analyses/{analysis_id}/timeline/", True),
        ("page: project report", f"/projects/{project_id}/report/", False),
        ("api: projects", "/api/v1/projects/", True),
    ]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(samples: list[tuple[str, int, float]], elapsed_s: float) -> dict:
    def stats(rows):
        times = sorted(t for _, _, t in rows)
        codes = Counter(str(code) for _, code, _ in rows)
        return {"requests": len(rows), "p50_ms": round(percentile(times, 0.50) * 1000, 1),
                "p95_ms": round(percentile(times, 0.95) * 1000, 1), "p99_ms": round(percentile(times, 0.99) * 1000, 1),
                "max_ms": round((times[-1] if times else 0) * 1000, 1),
                "mean_ms": round(statistics.fmean(times) * 1000, 1) if times else 0.0,
                "errors_5xx": sum(1 for _, code, _ in rows if code >= 500),
                "no_answer": codes.get("0", 0), "status_codes": dict(sorted(codes.items()))}

    by_kind = defaultdict(list)
    for row in samples:
        by_kind[row[0]].append(row)
    overall = stats(samples)
    return {**overall, "requests_per_s": round(len(samples) / elapsed_s, 1) if elapsed_s else 0.0,
            "by_kind": {kind: stats(rows) for kind, rows in sorted(by_kind.items())}}


def run_load(base_url: str, accounts: list[tuple[str, str]], *, users: int = 50, seconds: float = 120.0,
             think_s: float = 0.25, seed: int = 1) -> dict:
    """Load the site at `base_url` with `users` virtual users for `seconds`; returns the summary."""
    require_loopback(base_url)
    tokens = {username: api_token(base_url, username, password) for username, password in accounts}
    analysis_id, project_id = find_targets(base_url, next(iter(tokens.values())))
    plan = routes(analysis_id, project_id)
    log(f"{users} users, {seconds:g} s, against {base_url} (analysis {analysis_id}, project {project_id})")
    clients, errors = [], []

    def sign_in(n: int) -> None:
        username, password = accounts[n % len(accounts)]
        try:
            clients.append(Client(base_url, username, password, tokens[username]))
        except Exception as exc:  # reported, and that user simply does not take part
            errors.append(f"user {n}: {exc}")

    starters = [threading.Thread(target=sign_in, args=(n,)) for n in range(users)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    samples: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def browse(n: int, client: Client) -> None:
        rng = random.Random(seed + n)
        step = rng.randrange(len(plan))  # users start at different places in the round
        while time.monotonic() < deadline:
            kind, path, api = plan[step % len(plan)]
            status, took = client.get(path, api)
            with lock:
                samples.append((kind, status, took))
            step += 1
            time.sleep(min(max(0.0, deadline - time.monotonic()), rng.uniform(0, 2 * think_s)))

    started = time.monotonic()
    browsers = [threading.Thread(target=browse, args=(n, c)) for n, c in enumerate(clients)]
    for thread in browsers:
        thread.start()
    for thread in browsers:
        thread.join()
    elapsed = time.monotonic() - started
    return {"benchmark": "load", "url": base_url, "users": len(clients), "users_failed": errors,
            "seconds": round(elapsed, 2), "think_s": think_s, **summarise(samples, elapsed)}


# --- Its own server and data (no --url) -----------------------------------------------------------------


def database_url_of(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    auth = settings_dict.get("USER") or ""
    if settings_dict.get("PASSWORD"):
        auth += f":{settings_dict['PASSWORD']}"
    host = f"{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}"
    return f"postgres://{auth + '@' if auth else ''}{host}/{settings_dict['NAME']}"


def seed(users: int, password: str) -> list[tuple[str, str]]:
    """A finished 10-minute analysis of 50 faces at 1 fps, and `users` members who may read it."""
    sys.path.insert(0, str(HERE))
    from bench_report import insert_analysis  # the report benchmark's synthetic crowd
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Role

    owner, analysis, _, _ = insert_analysis(minutes=10, faces=50, sample_fps=1.0, track_life_s=120, finalized=True)
    owner.set_password(password)
    owner.save()
    organisation = analysis.footage.project.organisation
    accounts = [(owner.username, password)]
    for n in range(1, users):
        user = get_user_model().objects.create_user(f"load-{n}", password=password)
        Membership.objects.create(user=user, organisation=organisation, role=Role.VIEWER)
        accounts.append((user.username, password))
    return accounts


def self_hosted(args) -> dict:
    """Create a throw-away database, seed it, start `manage.py serve` (web only) on a free port, load it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.test")
    os.environ.setdefault("TEST_TAG", "bench-load")
    sys.path.insert(0, str(ROOT))
    import subprocess

    import django
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_load_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    server = None
    try:
        accounts = seed(args.users, password="load-benchmark-password")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url_of(connection.settings_dict), "EMO7ION_LIVE_WORKER": "external",
               # One token request per user from one address: the address limit must not count here.
               "THROTTLE_TOKEN": f"{10 * args.users}/min"}
        server = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--web-processes", str(args.web_processes), "--no-worker",
                                   "--no-beat", "--no-live-worker", "--grace", "3"], cwd=ROOT, env=env,
                                  stdout=sys.stderr)  # the server's access log is a log: stdout carries the JSON
        wait_for_port(port, server)
        result = run_load(f"http://127.0.0.1:{port}", accounts, users=args.users, seconds=args.seconds,
                          think_s=args.think_s)
        return {**result, "database": connection.vendor, "web_processes": args.web_processes}
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def wait_for_port(port: int, server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit code {server.returncode}) before it answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on 127.0.0.1:{port} within {timeout:g} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to load the site")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think-s", type=float, default=0.25, help="mean pause between a user's requests")
    parser.add_argument("--url", help="a running site on this machine (default: start one)")
    parser.add_argument("--username", help="with --url: the account every virtual user signs in as")
    parser.add_argument("--password")
    parser.add_argument("--web-processes", type=int, default=1, help="without --url: daphne processes")
    args = parser.parse_args()
    if args.url:
        if not (args.username and args.password):
            parser.error("--url needs --username and --password")
        result = run_load(args.url, [(args.username, args.password)], users=args.users, seconds=args.seconds,
                          think_s=args.think_s)
    else:
        result = self_hosted(args)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
