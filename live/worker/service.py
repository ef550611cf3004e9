"""The live worker: the process (or, embedded, the server task) that holds the model for live sessions.

Two halves:
- on the event loop, `_receive_forever` takes messages from the channel layer (frames, wake-ups,
  photos) and puts each frame in its session's slot, where a newer frame replaces an older one;
  it never analyses, so the layer's channel never fills while the model is busy;
- one analysing thread owns everything else: it takes the newest frame of each session in turn,
  analyses it, publishes the result to the session's pages, stores results every 2 s, serves
  photos, and every second re-reads the sessions from the database (new stream sessions get a
  reader, paused ones are skipped, stopping ones are stored and finalized).

The database says what each session should be doing, so a worker can restart at any time: it takes
its sessions up again from what was stored.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from emo7ion_site.core.jobs import JobStatus
from ml.runtime import classifier_options

from ..inference import EngineConfig, FrameAnalyser, FrameDecodeError
from ..messaging import HEARTBEAT_EVERY_S, HEARTBEAT_KEY, WORKER_CHANNEL, group_name
from ..models import LiveSession
from ..selectors import live_session_state
from ..services import recording
from .photos import score_photo
from .recorder import LiveFrame, SessionInfo, SessionRecorder
from .slots import LatestFrameSlots
from .streams import StreamReader

log = logging.getLogger(__name__)

SYNC_EVERY_S = 1.0
PHOTO_QUEUE = 4
S = LiveSession.State


def engine_config(detector: str, model_path: str) -> EngineConfig:
    return EngineConfig(model_path=str(model_path), **classifier_options(), detector=detector,
                        yunet_model=settings.EMO7ION_YUNET_MODEL or "",
                        upscale=str(settings.EMO7ION_DETECTOR_UPSCALE),
                        detector_runtime=str(settings.EMO7ION_DETECTOR_RUNTIME))


def session_info(session: LiveSession) -> SessionInfo:
    analysis = session.analysis
    return SessionInfo(
        session_id=session.pk, analysis_id=analysis.pk, origin=session.started_at.timestamp(),
        target_fps=session.target_fps, source=session.source, state=session.state, stream_url=session.stream_url,
        blur_faces=analysis.footage.project.organisation.blur_faces,
        config=engine_config(analysis.detector, analysis.model_version.file),
        chunk_seconds=settings.EMO7ION_LIVE_CHUNK_SECONDS)


class LiveWorker:
    def __init__(self, *, analyser=None, layer=None):
        self.analyser = analyser or FrameAnalyser()
        self.layer = layer
        self.slots = LatestFrameSlots()
        self.recorders: dict[int, SessionRecorder] = {}
        self.readers: dict[int, StreamReader] = {}
        self.photos: queue.Queue = queue.Queue(maxsize=PHOTO_QUEUE)
        self.state_changes: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = False  # the model is loaded

    # ------------------------------------------------------------------ the event loop's half
    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.layer = self.layer or get_channel_layer()
        thread = threading.Thread(target=self._analyse_forever, name="emo7ion-live-analyse", daemon=True)
        thread.start()
        tasks = [asyncio.ensure_future(self._receive_forever()), asyncio.ensure_future(self._heartbeat_forever())]
        try:
            while not self._stop.is_set() and thread.is_alive():
                await asyncio.sleep(0.2)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._stop.set()
            await asyncio.to_thread(thread.join, 30)
            await asyncio.to_thread(cache.delete, HEARTBEAT_KEY)

    def stop(self) -> None:
        self._stop.set()

    async def _receive_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(WORKER_CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer's server went away: try again, the sessions live in the database
                log.exception("live worker: receiving from the channel layer failed; retrying in 1 s")
                await asyncio.sleep(1.0)
                continue
            try:
                self.accept(message)
            except Exception:
                log.exception("live worker: bad message %s", message.get("type"))

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.to_thread(cache.set, HEARTBEAT_KEY, {"at": time.time(), "ready": self.ready}, 60)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    def accept(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "live.frame":
            self.slots.put(int(message["session"]), LiveFrame(
                session_id=int(message["session"]), wall_time=float(message["at"]), image=message["jpeg"],
                client_ms=message.get("client_ms")))
        elif kind == "live.wake":
            self._wake.set()
        elif kind == "live.photo":
            try:
                self.photos.put_nowait(message)
            except queue.Full:
                self._send(message["reply"], {"type": "live.photo.result",
                                              "error": "The live worker is busy with other photos; try again."})

    def _send(self, channel: str, message: dict) -> None:
        asyncio.run_coroutine_threadsafe(self.layer.send(channel, message), self.loop)

    def publish(self, session_id: int, message: dict) -> None:
        event = "live.result" if message["type"] == "result" else "live.state"
        asyncio.run_coroutine_threadsafe(
            self.layer.group_send(group_name(session_id), {"type": event, "data": message}), self.loop)

    # ------------------------------------------------------------------ the analysing thread's half
    def _analyse_forever(self) -> None:
        last_sync = 0.0
        try:
            self._warm_up()
            while not self._stop.is_set():
                try:
                    if self._wake.is_set() or time.monotonic() - last_sync >= SYNC_EVERY_S:
                        self._wake.clear()
                        last_sync = time.monotonic()
                        self._sync()
                    self._apply_state_changes()
                    self._serve_photo()
                    taken = self.slots.take(timeout=0.1)
                    if taken is not None:
                        self._analyse(*taken)
                    for recorder in list(self.recorders.values()):
                        if recorder.due():
                            self._store(recorder)
                except Exception:
                    log.exception("live worker: step failed; carrying on")
                    close_old_connections()
                    time.sleep(0.5)
        finally:
            self._shut_down()

    def _warm_up(self) -> None:
        from ml import registry
        try:
            version = registry.active_model_version()
            if version is not None:
                from ml.runtime import default_detector_name
                self.analyser.warm_up(engine_config(default_detector_name(), version.file))
        except Exception:
            log.exception("live worker: could not load the model ahead of the first frame")
        self.ready = True

    def _shut_down(self) -> None:
        """Store what is held; sessions stay open for the next worker (or a stop) to finish."""
        for reader in self.readers.values():
            reader.stop()
        for recorder in self.recorders.values():
            try:
                self._store(recorder)
            except Exception:
                log.exception("live worker: could not store session %s on shutdown", recorder.info.session_id)
        close = getattr(self.analyser, "close", None)
        if close:
            close()
        close_old_connections()

    def _recorder(self, session_id: int) -> SessionRecorder | None:
        recorder = self.recorders.get(session_id)
        if recorder is None:
            session = (LiveSession.objects.select_related("analysis__model_version",
                                                          "analysis__footage__project__organisation")
                       .filter(pk=session_id, state__in=(S.STARTING, S.RUNNING, S.RECONNECTING, S.PAUSED)).first())
            if session is None or session.analysis.status != JobStatus.RUNNING:
                self.slots.discard(session_id)
                return None
            recorder = self.recorders[session_id] = SessionRecorder(session_info(session), self.analyser)
        return recorder

    def _analyse(self, session_id: int, frame: LiveFrame) -> None:
        recorder = self._recorder(session_id)
        if recorder is None:
            return
        received, dropped = self.slots.take_counts(session_id)
        recorder.count_received(received)
        recorder.count_dropped(dropped)
        if recorder.info.state not in (S.STARTING, S.RUNNING, S.RECONNECTING):
            return  # paused: frames are neither analysed nor kept
        try:
            result = recorder.handle(frame)
        except FrameDecodeError:
            recorder.count_dropped(1)
            return
        if result is None:
            return
        if recorder.info.state == S.STARTING and recorder.info.source == LiveSession.Source.BROWSER:
            self._set_state(session_id, S.RUNNING, "", from_states=(S.STARTING,))
        self.publish(session_id, result)

    def _store(self, recorder: SessionRecorder, close: bool = False) -> None:
        received, dropped = self.slots.take_counts(recorder.info.session_id)
        recorder.count_received(received)
        recorder.count_dropped(dropped)
        recorder.store(close=close)

    def _set_state(self, session_id: int, state: str, message: str, from_states) -> None:
        if recording.live_session_set_state(session_id=session_id, state=state, message=message,
                                            from_states=from_states):
            session = LiveSession.objects.get(pk=session_id)
            if session_id in self.recorders:
                self.recorders[session_id].info.state = session.state
            self.publish(session_id, live_session_state(session))

    def _apply_state_changes(self) -> None:
        """States the stream readers observed (they run in their own threads, and never touch the database)."""
        while True:
            try:
                session_id, state, message = self.state_changes.get_nowait()
            except queue.Empty:
                return
            self._set_state(session_id, state, message, from_states=(S.STARTING, S.RUNNING, S.RECONNECTING))

    def _sync(self) -> None:
        """Bring the worker in line with the database: start readers, note pauses, finish stops."""
        close_old_connections()
        sessions = list(LiveSession.objects.filter(state__in=LiveSession.ACTIVE_STATES)
                        .select_related("analysis").order_by("pk"))
        active = set()
        for session in sessions:
            if session.state == S.STOPPING or session.analysis.status != JobStatus.RUNNING:
                self._finish(session.pk)
                continue
            if self._idle_too_long(session):
                recording.live_session_set_state(
                    session_id=session.pk, state=S.STOPPING,
                    message=f"No frames for {settings.EMO7ION_LIVE_IDLE_STOP_S / 60:g} minutes; stopped.")
                self._wake.set()
                continue
            active.add(session.pk)
            if session.pk in self.recorders:
                self.recorders[session.pk].info.state = session.state
            if session.source == LiveSession.Source.STREAM and session.pk not in self.readers:
                self._start_reader(session)
        for session_id in set(self.recorders) | set(self.readers):
            if session_id not in active:
                self._drop(session_id)

    def _idle_too_long(self, session: LiveSession) -> bool:
        if session.source != LiveSession.Source.BROWSER or session.state == S.PAUSED:
            return False
        recorder = self.recorders.get(session.pk)
        last = recorder.last_frame_wall if recorder else (session.last_frame_at or session.started_at).timestamp()
        return time.time() - last > settings.EMO7ION_LIVE_IDLE_STOP_S

    def _start_reader(self, session: LiveSession) -> None:
        session_id = session.pk

        def on_frame(wall_time, frame):
            self.slots.put(session_id, LiveFrame(session_id=session_id, wall_time=wall_time, image=frame))

        def on_state(state, message):
            self.state_changes.put((session_id, state, message))

        reader = StreamReader(session.stream_url, fps=session.target_fps, on_frame=on_frame, on_state=on_state,
                              name=f"stream-{session_id}")
        self.readers[session_id] = reader
        reader.start()

    def _drop(self, session_id: int) -> None:
        reader = self.readers.pop(session_id, None)
        if reader is not None:
            reader.stop()
        recorder = self.recorders.pop(session_id, None)
        if recorder is not None and recorder.chunk is not None:
            self.analyser.track_info(recorder.tracker_key, forget=True)  # finished elsewhere: free its tracker
        self.slots.discard(session_id)

    def _finish(self, session_id: int) -> None:
        reader = self.readers.pop(session_id, None)
        if reader is not None:
            reader.stop()
        recorder = self.recorders.pop(session_id, None)
        if recorder is not None:
            self._store(recorder, close=True)
        self.slots.discard(session_id)
        session = recording.live_session_finish(session_id=session_id)
        self.publish(session_id, live_session_state(session))
        log.info("live session %s finished: %s", session_id, session.state)

    def _serve_photo(self) -> None:
        try:
            message = self.photos.get_nowait()
        except queue.Empty:
            return
        try:
            config = engine_config(message["detector"], message["model_path"])
            answer = score_photo(self.analyser, config, message["image"], annotate=bool(message.get("annotate")),
                                 blur=bool(message.get("blur", True)))
        except FrameDecodeError as exc:
            answer = {"error": str(exc)}
        except Exception as exc:
            log.exception("live worker: photo failed")
            answer = {"error": f"The photo could not be scored ({type(exc).__name__}: {exc})."}
        self._send(message["reply"], {"type": "live.photo.result", **answer})
