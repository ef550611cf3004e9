"""Bad video input, each kind refused at upload with its own message (issue 15): no video stream (an audio
recording as .mp4 or .webm, an audio file under a video's name), a video codec this server cannot decode,
containers with nothing in them, and files that are not media at all. Every one is kept on record.

With the kinds tested elsewhere (empty, text named .mp4, cut in half, over the size limit, stored object
missing: test_upload.py; oversized image, animated GIF/PNG/WebP, empty upload by page and API:
test_upload_images.py; corrupt JPEG: ml/engine/test_video.py) that is more than sixteen kinds."""
from __future__ import annotations

import pytest

from analysis.models import Footage
from tests.integration import bad_media

from .conftest import clip, upload

ADVICE = "Convert it to H.264 video in an MP4 file and upload it again."
NOT_DECODABLE = "is not a video or image that can be decoded (unknown format, or a video cut short before its index " \
                "was written)"


def _codec(fourcc: bytes):
    return lambda path: bad_media.with_video_codec(clip("07_*"), path, fourcc)


KINDS = [
    ("voice.mp4", bad_media.audio_only_mp4,
     "voice.mp4 has no video stream: its MP4 container holds only audio (mp4a). Upload a video or a still image."),
    ("microphone.webm", bad_media.audio_only_webm,
     "microphone.webm has no video stream: its WebM/Matroska container holds only audio (A_OPUS). "
     "Upload a video or a still image."),
    ("song.mp4", bad_media.mp3,
     "song.mp4 has no video stream: it is an audio file (MP3 audio). Upload a video or a still image."),
    ("interview.mov", bad_media.wav,
     "interview.mov has no video stream: it is an audio file (WAV audio). Upload a video or a still image."),
    ("exotic.mp4", _codec(b"zzzz"),
     f"exotic.mp4 has a video stream in a format this server cannot decode (MP4, codec zzzz), or a corrupt one. "
     f"{ADVICE}"),
    ("av1.mp4", _codec(b"av01"),
     f"av1.mp4 has a video stream in a format this server cannot decode (MP4, codec av01), or a corrupt one. "
     f"{ADVICE}"),
    ("no-frames.mp4", bad_media.trackless_mp4,
     "no-frames.mp4 has no video stream: its MP4 container holds no tracks at all. Upload a video or a still image."),
    ("header-only.mp4", bad_media.header_only_mp4, f"header-only.mp4 {NOT_DECODABLE}"),
    ("noise.avi", bad_media.random_bytes, f"noise.avi {NOT_DECODABLE}"),
    ("clips.mp4", bad_media.zip_archive, f"clips.mp4 {NOT_DECODABLE}"),
    ("download.mp4", bad_media.html_page, f"download.mp4 {NOT_DECODABLE}"),
]


@pytest.mark.parametrize("name, make, reason", KINDS, ids=[name for name, _, _ in KINDS])
def test_bad_video_is_refused_with_its_own_message_and_kept_on_record(project_a, alice, tmp_path, name, make, reason):
    footage = upload(project_a, make(tmp_path / name), alice)

    assert footage.status == Footage.Status.REJECTED
    assert footage.rejection_reason == reason
    assert Footage.objects.filter(pk=footage.pk, status="rejected", original_name=name).exists()
