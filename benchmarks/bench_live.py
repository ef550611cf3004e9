"""Live analysis, worker side: the time from a frame's JPEG bytes arriving at the live worker to its
faces (decode, YuNet, classify, track), for 640x480 frames paced at 4 fps, median and p95; and the
sustained rate when every frame holds about ten faces.

    python benchmarks/bench_live.py [--seconds 20] [--fps 4]

It drives the worker's own `live.inference.FrameAnalyser` in this process, with the newest-frame-wins
rule of the worker's slots: a frame that arrives while the previous one is still being analysed
replaces any frame already waiting (counted as dropped), so nothing queues beyond the newest. It does
not include the WebSocket and channel-layer hops (tests/live/test_websocket.py exercises those); on
loopback they add milliseconds, not tens of them.
"""
from __future__ import annotations

import argparse
import statistics
import time

from _common import DEFAULT_MODEL, SHARED, cpu_info, emit, log, peak_rss_mb, shared_missing, skipped

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
    latencies.sort()
    return {"frames_arrived": i, "frames_analysed": analysed, "frames_dropped": dropped,
            "latency_ms": {"median": round(statistics.median(latencies), 1),
                           "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
                           "max": round(latencies[-1], 1)}}


def sustained_rate(analyser, config, frame: bytes, seconds: float) -> dict:
    faces, n = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        faces += len(analyser.analyse(config, "crowd", float(n), frame, n).faces)
        n += 1
    elapsed = time.perf_counter() - start
    return {"frames_per_second": round(n / elapsed, 2), "faces_per_frame": round(faces / max(1, n), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=4.0)
    args = parser.parse_args()
    missing = shared_missing("media", "videos") or shared_missing("models", "yunet", "yunet_n_640_640.onnx")
    if missing:
        emit(skipped("live", missing))
        return
    from live.inference import EngineConfig, FrameAnalyser

    config = EngineConfig(model_path=str(DEFAULT_MODEL), detector="yunet",
                          yunet_model=str(SHARED / "models" / "yunet" / "yunet_n_640_640.onnx"))
    analyser = FrameAnalyser()
    analyser.warm_up(config)
    frames = frames_640x480("07_*", 200)
    log(f"live benchmark: {len(frames)} webcam frames at 640x480, {args.fps:g} fps for {args.seconds:g} s")
    webcam = paced_latency(analyser, config, frames, args.fps, args.seconds)
    log(f"  webcam: {webcam}")
    crowd = sustained_rate(analyser, config, crowd_frame_640x480(), min(args.seconds, 15.0))
    log(f"  crowd: {crowd}")
    emit({"benchmark": "live", "model": DEFAULT_MODEL.name, "detector": "yunet", "frame": "640x480 JPEG",
          "target_fps": args.fps, "webcam_clip_07": webcam, "p95_target_ms": P95_TARGET_MS,
          "meets_p95_target": webcam["latency_ms"]["p95"] <= P95_TARGET_MS,
          "queued_beyond_newest": 0,  # by construction: one waiting slot, replaced by newer frames
          "crowd_about_10_faces": crowd, "cpu": cpu_info(), "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
