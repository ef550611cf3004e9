"""Live analysis: frame-to-result latency for 640x480 JPEG frames sent at 4 fps, median and p95, and
the sustained rate when every frame holds about ten faces. Two measurements, in one run:

- `end_to_end`: what a browser sees. A real ASGI server (daphne) and live worker on a throw-away
  database: with Redis answering, the Redis channel layer and a `manage.py live_worker` process (the
  production layout); without it, the in-memory layer and the embedded worker (`make demo`). Frames
  go over a real WebSocket stamped with the sender's clock, exactly as the live page sends them, and
  the latency is the time until that frame's result comes back over the same socket. The worker's
  own counters (received, analysed, dropped) show whether anything queued beyond the newest frame.
- `worker`: the live worker's `live.inference.FrameAnalyser` alone, in this process, with the
  worker's newest-frame-wins rule simulated; the difference from `end_to_end` is the transport.

    python benchmarks/bench_live.py [--seconds 20] [--fps 4] [--skip-end-to-end]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

from _common import DEFAULT_MODEL, ROOT, SHARED, cpu_info, emit, log, peak_rss_mb, shared_missing, skipped

P95_TARGET_MS = 400.0


def frames_640x480(pattern: str, limit: int) -> list[bytes]:
    import cv2
    path = next((SHARED / "media" / "videos").glob(pattern))
    capture = cv2.VideoCapture(str(path))
    out = []
    while len(out) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(cv2.imencode(".jpg", cv2.resize(frame, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    capture.release()
    return out


def crowd_frame_640x480() -> bytes:
    """A 640x480 JPEG with about ten faces: the crowd photo 12_* (seven faces) beside a second copy's half."""
    import cv2
    import numpy as np
    photo = cv2.imread(str(next((SHARED / "media" / "photos").glob("12_*"))))
    h = 480
    scaled = cv2.resize(photo, (int(photo.shape[1] * h / photo.shape[0]), h))
    canvas = np.concatenate([scaled, scaled], axis=1)[:, :640] if scaled.shape[1] < 640 else scaled[:, :640]
    return cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def paced_latency(analyser, config, frames: list[bytes], fps: float, seconds: float) -> dict:
    """Frames arrive every 1/fps s; the worker takes the newest waiting one when it is free."""
    interval = 1.0 / fps
    latencies, dropped, analysed = [], 0, 0
    start = time.perf_counter()
    next_arrival, i, waiting = start, 0, None   # waiting: (arrival time, frame bytes)
    while time.perf_counter() - start < seconds:
        now = time.perf_counter()
        while next_arrival <= now:   # frames that arrived while the worker was busy: newest wins
            if waiting is not None:
                dropped += 1
            waiting = (next_arrival, frames[i % len(frames)])
            i += 1
            next_arrival += interval
        if waiting is None:
            time.sleep(max(0.0, next_arrival - time.perf_counter()))
            continue
        arrived, data = waiting
        waiting = None
        analyser.analyse(config, "bench", arrived - start, data, analysed)
        latencies.append((time.perf_counter() - arrived) * 1000)
        analysed += 1
    return {"frames_arrived": i, "frames_analysed": analysed, "frames_dropped": dropped,
            "latency_ms": latency_summary(latencies)}


def latency_summary(latencies_ms: list[float]) -> dict:
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"median": None, "p95": None, "max": None}
    return {"median": round(statistics.median(ordered), 1), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "max": round(ordered[-1], 1)}


def sustained_rate(analyser, config, frame: bytes, seconds: float) -> dict:
    faces, n = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        faces += len(analyser.analyse(config, "crowd", float(n), frame, n).faces)
        n += 1
    elapsed = time.perf_counter() - start
    return {"frames_per_second": round(n / elapsed, 2), "faces_per_frame": round(faces / max(1, n), 1)}


# --- End to end: a real server, a real WebSocket ---------------------------------------------------------

FRAME_HEADER = struct.Struct("<d")
CROWD_SEND_FPS = 20.0   # the live page's header: the sender's clock in ms (live/consumers.py)


class LiveSocket:
    """The browser's side of `/ws/live/<id>/`: sends stamped frames, and a thread files every result
    under the stamp it echoes, with the time it came back."""

    def __init__(self, url: str, origin: str, cookie: str):
        from websockets.sync.client import connect
        self.connection = connect(url, origin=origin, additional_headers={"Cookie": cookie}, compression=None,
                                  proxy=None, max_size=None)
        self.results: list[tuple[float, dict]] = []   # (arrival ms, message)
        self.states: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        import json

        from websockets.exceptions import ConnectionClosed
        try:
            for raw in self.connection:
                message = json.loads(raw)
                if message.get("type") == "result":
                    self.results.append((time.time() * 1000.0, message))
                elif message.get("type") == "state":
                    self.states.append(message)
        except ConnectionClosed:
            pass

    def send(self, jpeg: bytes) -> None:
        self.connection.send(FRAME_HEADER.pack(time.time() * 1000.0) + jpeg)

    def send_paced(self, frames: list[bytes], fps: float, seconds: float) -> int:
        """Frames at a steady rate, as the page's timer sends them; returns how many were sent."""
        start, sent = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            self.send(frames[sent % len(frames)])
            sent += 1
            time.sleep(max(0.0, start + sent / fps - time.perf_counter()))
        return sent

    def close(self) -> None:
        self.connection.close()


def _measure(sock: LiveSocket, frames: list[bytes], fps: float, seconds: float) -> dict:
    """Send at `fps` for `seconds`, then wait for the last results to come back."""
    first = len(sock.results)
    sent = sock.send_paced(frames, fps, seconds)
    time.sleep(2.0)   # the last frame's result
    results = sock.results[first:]
    latencies = [arrived - message["client_ms"] for arrived, message in results]
    worker_side = [message["latency_ms"] for _, message in results]
    last = results[-1][1] if results else {}
    received, analysed, dropped = (last.get(k, 0) for k in ("received", "analysed", "dropped"))
    span_s = (results[-1][0] - results[0][0]) / 1000.0 if len(results) > 1 else None
    return {
        "frames_sent": sent, "results": len(results),
        "results_per_second": round((len(results) - 1) / span_s, 2) if span_s else None,
        "faces_per_frame": round(sum(m["face_count"] for _, m in results) / max(1, len(results)), 1),
        "latency_ms": latency_summary(latencies),
        "worker_latency_ms": latency_summary(worker_side),
        # The worker's counters since the session started: every frame it received was analysed or
        # dropped for a newer one, except at most the one in its slot.
        "worker_counts": {"received": received, "analysed": analysed, "dropped": dropped},
        "queued_beyond_newest": max(0, received - analysed - dropped - 1),
        "refused_by_rate_limit": last.get("refused", 0),
    }


def _seed_browser_session(fps: float):
    """A user, organisation, project, the shipped model and a browser-camera live session."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import organisation_create
    from analysis.services import project_create
    from live.services import live_session_start
    from ml import registry

    user = get_user_model().objects.create_user("live-bench", password="live-benchmark-password")
    organisation = organisation_create(name="Live benchmark", owner=user)
    project = project_create(organisation=organisation, name="Live benchmark", created_by=user)
    if registry.ensure_default_model() is None:
        raise SystemExit("the shipped default model is missing from ml/default_model/")
    session = live_session_start(project=project, started_by=user, source="browser", setting="audience",
                                 target_fps=fps)
    client = Client()
    client.force_login(user)
    return session, f"sessionid={client.cookies['sessionid'].value}"


def end_to_end(args, webcam_frames: list[bytes], crowd_frame: bytes) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.test")
    os.environ.setdefault("TEST_TAG", "bench-live")
    import django
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    from bench_load import database_url_of, wait_for_port

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_live_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    processes, sock = [], None
    try:
        session, cookie = _seed_browser_session(args.fps)
        mode = "external" if settings.REDIS_URL else "embedded"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url_of(connection.settings_dict), "EMO7ION_LIVE_WORKER": mode,
               # The consumer refuses frames faster than this; raised so that the sustained rate is the worker's.
               "EMO7ION_LIVE_MAX_FPS": "30", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        if mode == "embedded":
            env["REDIS_URL"] = ""
        commands = [[sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "emo7ion_site.asgi:application"]]
        if mode == "external":
            commands.append([sys.executable, str(ROOT / "manage.py"), "live_worker"])
        for command in commands:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=sys.stderr, stderr=sys.stderr))
        wait_for_port(port, processes[0])
        sock = LiveSocket(f"ws://127.0.0.1:{port}/ws/live/{session.pk}/", f"http://127.0.0.1:{port}", cookie)
        # Warm-up: the worker loads the model and detector on the first frame; the page keeps sending meanwhile.
        deadline = time.monotonic() + 300
        while not sock.results and time.monotonic() < deadline:
            sock.send(webcam_frames[0])
            time.sleep(1.0 / args.fps)
        if not sock.results:
            raise SystemExit("no result came back over the WebSocket within 300 s")
        sock.send_paced(webcam_frames, args.fps, 3.0)
        log(f"end to end ({mode} worker): {args.fps:g} fps for {args.seconds:g} s")
        webcam = _measure(sock, webcam_frames, args.fps, args.seconds)
        log(f"  webcam: {webcam}")
        # Faster than the worker can go (about 10 frames/s with ten faces here), under the consumer's limit.
        crowd = _measure(sock, [crowd_frame], CROWD_SEND_FPS, min(args.seconds, 15.0))
        log(f"  crowd: {crowd}")
        return {"server": "daphne", "live_worker": mode,
                "channel_layer": "redis" if mode == "external" else "in-memory",
                "database": connection.vendor, "webcam_clip_07": webcam,
                "meets_p95_target": (webcam["latency_ms"]["p95"] or float("inf")) <= P95_TARGET_MS,
                f"crowd_about_10_faces_sent_at_{CROWD_SEND_FPS:g}_fps": crowd}
    finally:
        if sock is not None:
            sock.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


# --- Worker side, in this process ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--skip-end-to-end", action="store_true", help="only the worker-side measurement")
    args = parser.parse_args()
    missing = shared_missing("media", "videos") or shared_missing("models", "yunet", "yunet_n_640_640.onnx")
    if missing:
        emit(skipped("live", missing))
        return
    os.environ.setdefault("EMO7ION_YUNET_MODEL", str(SHARED / "models" / "yunet" / "yunet_n_640_640.onnx"))
    frames = frames_640x480("07_*", 200)
    crowd_frame = crowd_frame_640x480()
    through_server = None if args.skip_end_to_end else end_to_end(args, frames, crowd_frame)
    from live.inference import EngineConfig, FrameAnalyser

    config = EngineConfig(model_path=str(DEFAULT_MODEL), detector="yunet",
                          yunet_model=str(SHARED / "models" / "yunet" / "yunet_n_640_640.onnx"))
    analyser = FrameAnalyser()
    analyser.warm_up(config)
    log(f"worker side: {len(frames)} webcam frames at 640x480, {args.fps:g} fps for {args.seconds:g} s")
    webcam = paced_latency(analyser, config, frames, args.fps, args.seconds)
    log(f"  webcam: {webcam}")
    crowd = sustained_rate(analyser, config, crowd_frame, min(args.seconds, 15.0))
    log(f"  crowd: {crowd}")
    worker = {"webcam_clip_07": webcam, "meets_p95_target": webcam["latency_ms"]["p95"] <= P95_TARGET_MS,
              "queued_beyond_newest": 0,  # by construction: one waiting slot, replaced by newer frames
              "crowd_about_10_faces": crowd}
    emit({"benchmark": "live", "model": DEFAULT_MODEL.name, "detector": "yunet", "frame": "640x480 JPEG",
          "target_fps": args.fps, "p95_target_ms": P95_TARGET_MS, "end_to_end": through_server, "worker": worker,
          "cpu": cpu_info(), "peak_rss_mb_of_this_process": peak_rss_mb()})


if __name__ == "__main__":
    main()
