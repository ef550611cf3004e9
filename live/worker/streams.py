"""Stream URL readers: a room camera or a stream (RTSP, HTTP(S) MJPEG, HLS) read by OpenCV/FFmpeg.

Each reader is a thread that keeps reading the stream (so OpenCV's buffer never holds old frames)
and hands on at most `fps` frames a second. When the stream drops, it says "reconnecting", waits
(0.5 s, doubling up to 8 s) and opens it again; once frames flow again it says "running".
A file served over HTTP is read at its own frame rate, as a camera would send it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import cv2

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


def open_capture(url: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS,
                                                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS])


class StreamReader(threading.Thread):
    """Calls `on_frame(wall_time, frame_bgr)` at most `fps` times a second and `on_state(state, message)`
    with "running" or "reconnecting" whenever that changes, until `stop()`."""

    def __init__(self, url: str, *, fps: float, on_frame: Callable, on_state: Callable, name: str = "stream"):
        super().__init__(name=f"emo7ion-live-{name}", daemon=True)
        self.url, self.interval = url, 1.0 / max(0.1, float(fps))
        self.on_frame, self.on_state = on_frame, on_state
        self._stop_event = threading.Event()
        self.state = ""
        self.reconnects = 0

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopped(self) -> bool:
        return self._stop_event.is_set()

    def _say(self, state: str, message: str = "") -> None:
        if state != self.state:
            self.state = state
            self.on_state(state, message)

    def run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self.stopped:
            capture = open_capture(self.url)
            delivered = False
            try:
                if capture.isOpened():
                    delivered = self._read(capture)
            finally:
                capture.release()
            if self.stopped:
                break
            if delivered:
                backoff = BACKOFF_FIRST_S  # it worked for a while: the next drop starts the waits again
            self.reconnects += 1
            self._say("reconnecting", f"The stream dropped or does not answer; trying again in {backoff:g} s.")
            log.info("live stream %s: reconnecting in %.1f s", self.name, backoff)
            self._stop_event.wait(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    def _read(self, capture: cv2.VideoCapture) -> bool:
        """Read until the stream fails or the reader stops. Returns whether any frame came."""
        # A finite source (a file) would be read as fast as it decodes: pace it at its own rate.
        finite = capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0
        source_fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        pace = 1.0 / source_fps if finite and 0 < source_fps < 240 else 0.0
        delivered, last_sent, started = False, 0.0, time.monotonic()
        read_count = 0
        while not self.stopped:
            ok, frame = capture.read()
            if not ok or frame is None:
                return delivered
            read_count += 1
            if not delivered:
                delivered = True
                self._say("running")
            now = time.monotonic()
            if now - last_sent >= self.interval:
                last_sent = now
                self.on_frame(time.time(), frame)
            if pace:
                ahead = started + read_count * pace - time.monotonic()
                if ahead > 0:
                    self._stop_event.wait(ahead)
        return delivered
