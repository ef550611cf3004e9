"""A photo scored in about a second: by upload or https URL, analysed by the live worker (which holds
the model; the web process never loads it), stored nowhere unless the person saves it as footage."""
from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.defaultfilters import filesizeformat
from django.conf import settings

from analysis.services import validate_detector
from emo7ion_site.core.exceptions import ApplicationError
from ml import registry

from ..messaging import WORKER_CHANNEL
from ..selectors import live_worker_alive
from .fetch import fetch_photo

ANSWER_TIMEOUT_S = 30.0  # the first photo after a worker starts waits for the model to load


class PhotoRefused(ApplicationError):
    pass


class LiveWorkerUnavailable(ApplicationError):
    """No live worker answers: the API says 503, the page says how to start one."""


async def _ask_worker(message: dict, timeout: float) -> dict:
    layer = get_channel_layer()
    # The layer's default prefix: channels_redis reads every process-specific channel of a process
    # through one queue per prefix, and the WebSocket consumers already keep that one read.
    reply = await layer.new_channel()
    await layer.send(WORKER_CHANNEL, {**message, "reply": reply})
    return await asyncio.wait_for(layer.receive(reply), timeout)


def photo_score(*, image: bytes | None = None, url: str = "", detector: str | None = None, annotate: bool = False,
                blur: bool = True) -> dict:
    """Every face of the photo (box, seven probabilities, top emotion) and the crowd's shares."""
    if bool(image) == bool(url):
        raise PhotoRefused("Send either a photo file or its https:// URL.")
    if url:
        image = fetch_photo(url)
    if len(image) > settings.EMO7ION_PHOTO_MAX_BYTES:
        raise PhotoRefused(f"The photo is larger than the limit of {filesizeformat(settings.EMO7ION_PHOTO_MAX_BYTES)}.")
    detector = validate_detector(detector)
    model_version = registry.active_model_version()
    if model_version is None:
        raise PhotoRefused("No emotion model is active yet. An administrator must register one.")
    if not live_worker_alive():
        raise LiveWorkerUnavailable("The live worker is not running, so photos cannot be scored now. Start it "
                                    "with `python manage.py live_worker` (or serve the site with the embedded one).")
    message = {"type": "live.photo", "image": bytes(image), "detector": detector,
               "model_path": str(model_version.file), "annotate": annotate, "blur": blur}
    try:
        answer = async_to_sync(_ask_worker)(message, ANSWER_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise LiveWorkerUnavailable(f"The live worker did not answer within {ANSWER_TIMEOUT_S:g} s; try again.")
    answer.pop("type", None)
    if answer.get("error"):
        raise PhotoRefused(answer["error"])
    answer["model_version"] = model_version.name
    return answer
