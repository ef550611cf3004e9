"""Fixtures for the live tests: two organisations, the shipped model, real JPEG frames from ../shared
media, a real ASGI server (daphne) on a free port, a WebSocket client, and a loopback MJPEG server."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import pytest

from accounts.models import Role
from tests.conftest import (PY, ROOT, _database_url_of_test_db, free_port, shared_glob, wait_for_port,
                            wait_until)
from tests.factories import member_of

WEBCAM_CLIP = "07_*"          # a face, neutral then smiling
CROWD_PHOTO = "12_*"          # seven faces


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")


@pytest.fixture
def owner_a(org_a):
    return member_of(org_a, Role.OWNER, username="olivia")


@pytest.fixture
def analyst_a(alice):
    return alice


@pytest.fixture
def analyst_b(bob):
    return bob


@pytest.fixture
def shipped_model(db):
    """The shipped default model, registered and active (loading it is faster than training one)."""
    from ml import registry
    version = registry.ensure_default_model()
    if version is None:
        pytest.skip("the shipped default model is missing from ml/default_model/")
    return version


def clip_frames(pattern: str = WEBCAM_CLIP, limit: int = 400) -> list:
    """Decoded BGR frames of a real clip from ../shared/media/videos."""
    capture = cv2.VideoCapture(str(shared_glob("media/videos", pattern)))
    frames = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert frames, f"no frame decoded from {pattern}"
    return frames


def jpeg(frame, quality: int = 80) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def photo_bytes(pattern: str = CROWD_PHOTO) -> bytes:
    return shared_glob("media/photos", pattern).read_bytes()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    return wait_until(predicate, timeout=timeout, interval=interval, what=what)


# --------------------------------------------------------------------------- a real ASGI server

class AsgiServer:
    def __init__(self, port: int, process: subprocess.Popen, log_path):
        self.port, self.process, self.log_path = port, process, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture
def asgi_server(transactional_db, settings, tmp_path):
    """Factory: daphne serving emo7ion_site.asgi on a free port, on the test database. `mode` is
    "embedded" (in-memory channel layer; the server runs the live worker, its model in a child
    process) or "external" (Redis channel layer; a `manage.py live_worker` process beside it)."""
    processes = []

    def start(mode: str = "embedded") -> AsgiServer:
        port = free_port()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test",
               "DATABASE_URL": _database_url_of_test_db(), "TEST_TAG": settings.TEST_TAG,
               "MEDIA_ROOT": str(settings.MEDIA_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "EMO7ION_LIVE_WORKER": mode,
               "PYTHONUNBUFFERED": "1"}
        if mode == "embedded":
            env["REDIS_URL"] = ""  # the in-memory layer: what a machine without services runs
        log_path = tmp_path / f"daphne-{mode}.log"
        log = open(log_path, "w")
        commands = [[PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "emo7ion_site.asgi:application"]]
        if mode == "external":
            commands.append([PY, "manage.py", "live_worker"])
        for command in commands:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for_port(port, timeout=60)
        return AsgiServer(port, processes[0], log_path)

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def session_cookie(user) -> str:
    """A signed-in session for `user`, stored in the database the server reads."""
    from django.test import Client
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


class WebSocketClient:
    """A WebSocket client (the `websockets` library's synchronous one) whose thread reads every message
    the server sends into `messages` (JSON decoded). The synchronous client keeps the test process off
    asyncio, which daphne, an installed app, has already claimed for Twisted."""

    def __init__(self, url: str, *, origin: str, cookie: str = ""):
        from websockets.sync.client import connect
        self.messages: list = []
        self.closed_code = None
        self._closed = threading.Event()
        self.connection = connect(url, origin=origin, additional_headers={"Cookie": cookie} if cookie else None,
                                  compression=None, proxy=None, open_timeout=10, max_size=None)
        threading.Thread(target=self._read_forever, daemon=True).start()

    def _read_forever(self) -> None:
        from websockets.exceptions import ConnectionClosed
        try:
            for message in self.connection:
                self.messages.append(json.loads(message) if isinstance(message, str) else message)
        except (ConnectionClosed, OSError, ValueError):
            pass
        finally:
            self.closed_code = self.connection.close_code
            self._closed.set()

    def send_bytes(self, data: bytes) -> None:
        self.connection.send(data)

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "a message"):
        return wait_for(lambda: next((m for m in list(self.messages) if isinstance(m, dict) and predicate(m)), None),
                        timeout=timeout, what=what)

    def wait_closed(self, timeout: float = 10.0) -> int | None:
        self._closed.wait(timeout)
        return self.closed_code

    def close(self) -> None:
        self.connection.close()
        self._closed.wait(5)


# --------------------------------------------------------------------------- a loopback MJPEG camera

class MjpegCamera:
    """An HTTP MJPEG stream (multipart/x-mixed-replace) of a real clip, looped, on 127.0.0.1, which a
    test can stop (connections drop) and start again on the same port."""

    def __init__(self, frames: list, fps: float = 10.0):
        self.jpegs = [jpeg(f) for f in frames]
        self.interval = 1.0 / fps
        self.port = free_port()
        self.server = None
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while not self.server.stopping:
                        data = camera.jpegs[index % len(camera.jpegs)]
                        index += 1
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(data), data))
                        time.sleep(camera.interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.stopping = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stopping = True
            self.server.shutdown()
            self.server.server_close()
            self.server = None
