"""Writes of the live side, re-exported here (`from live import services`).

    sessions   live_session_start / _pause / _resume / _stop: the setting, consent and switch rules
    recording  what the live worker stores: chunks as analysis segments, observations, finalize
    photos     photo_score: a photo (upload or https URL) scored by the live worker, stored nowhere
    fetch      fetch_photo: https only, public addresses only, size/time/redirect limits
"""
from .fetch import PhotoFetchRefused, fetch_photo
from .photos import LiveWorkerUnavailable, PhotoRefused, photo_score
from .recording import (ChunkUpdate, live_chunk_open, live_chunk_store, live_resume_point, live_session_fail,
                        live_session_finish, live_session_set_state)
from .sessions import (LiveRefused, live_session_pause, live_session_resume, live_session_start, live_session_stop,
                       setting_problem, validate_fps, validate_stream_url)

__all__ = [
    "ChunkUpdate", "LiveRefused", "LiveWorkerUnavailable", "PhotoFetchRefused", "PhotoRefused", "fetch_photo",
    "live_chunk_open", "live_chunk_store", "live_resume_point", "live_session_fail", "live_session_finish",
    "live_session_pause", "live_session_resume", "live_session_set_state", "live_session_start",
    "live_session_stop", "photo_score", "setting_problem", "validate_fps", "validate_stream_url",
]
