"""Probing and frame sampling on the real clips in ../shared, and on broken copies of them."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ml.engine.errors import VideoReadError
from ml.engine.video import iter_sampled_frames, probe_media, read_frame_at

from .conftest import decoded_frames, photo, video

# What the clips are (the shared README and ffprobe agree on these).
CLIPS = {
    "01": (1920, 1080, 25.0, 105),
    "03": (640, 360, 23.976, 472),
    "06": (960, 540, 26.398, 169),
    "07": (640, 360, 30.0, 72),
    "08": (826, 540, 25.0, 127),
}


@pytest.mark.parametrize("prefix", sorted(CLIPS))
def test_probe_reads_geometry_of_every_clip(prefix):
    width, height, fps, frames = CLIPS[prefix]
    info = probe_media(video(prefix))
    assert info.kind == "video"
    assert (info.width, info.height, info.frame_count) == (width, height, frames)
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.duration_s == pytest.approx(frames / fps, abs=0.01)


def test_probe_still_image_is_one_frame_footage():
    info = probe_media(photo("14"))
    assert (info.kind, info.frame_count, info.duration_s, info.width, info.height) == ("image", 1, 0.0, 500, 334)


def test_probe_decides_by_content_not_by_name(tmp_path):
    # A JPEG named .mp4 is still an image; an mp4 named .jpg is still a video.
    fake_video = tmp_path / "photo.mp4"
    fake_video.write_bytes(photo("15").read_bytes())
    assert probe_media(fake_video).kind == "image"
    fake_image = tmp_path / "clip.jpg"
    fake_image.write_bytes(video("07").read_bytes())
    assert probe_media(fake_image).kind == "video"


def test_empty_file_is_rejected_with_reason(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty"):
        probe_media(empty)
    with pytest.raises(VideoReadError, match="empty"):
        list(iter_sampled_frames(empty, 2.0))


def test_text_file_named_mp4_is_rejected(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("This is a meeting agenda, not a video.\n" * 50)
    with pytest.raises(VideoReadError, match="not a video or image"):
        probe_media(text)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(VideoReadError, match="does not exist"):
        probe_media(tmp_path / "nowhere.mp4")


def test_corrupt_jpeg_is_rejected(tmp_path):
    data = photo("12").read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(data[:200])  # a JPEG header and nothing else
    with pytest.raises(VideoReadError):
        probe_media(broken)


def test_half_mp4_with_index_at_end_is_rejected(half_mp4_index_at_end):
    with pytest.raises(VideoReadError, match="cut short|not a video"):
        probe_media(half_mp4_index_at_end)


def test_half_mp4_that_opens_is_rejected_by_probe(half_mp4):
    # The container opens and claims the full duration: only decoding the end shows the truth.
    cap = cv2.VideoCapture(str(half_mp4), cv2.CAP_FFMPEG)
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) == CLIPS["03"][3]
    cap.release()
    with pytest.raises(VideoReadError, match="truncated"):
        probe_media(half_mp4)


def test_half_mp4_sampling_stops_early_and_says_so(half_mp4):
    frames = iter_sampled_frames(half_mp4, 2.0)
    got = [t for _, t, _ in frames]
    duration = CLIPS["03"][3] / CLIPS["03"][2]
    assert frames.stopped_early
    assert "truncated" in frames.message
    # It decoded what is there (about half) and stopped, without raising.
    assert 0.3 * duration * 2 < len(got) < 0.7 * duration * 2
    assert frames.frames_read == len(got)


def test_whole_clips_are_decodable_to_their_last_frame():
    # The check the probe relies on: seeking to near the end of an intact file and decoding on
    # reaches the stated frame count.
    for prefix, (_, _, fps, frames) in CLIPS.items():
        sampled = iter_sampled_frames(video(prefix), fps)  # every frame
        last = None
        for last in sampled:
            pass
        assert not sampled.stopped_early, (prefix, sampled.message)
        assert last[0] >= frames - 2, prefix


@pytest.mark.parametrize("prefix,sample_fps", [("03", 2.0), ("01", 5.0), ("07", 1.0)])
def test_sampling_rate_and_times(prefix, sample_fps):
    _, _, fps, frames = CLIPS[prefix]
    duration = frames / fps
    got = list(iter_sampled_frames(video(prefix), sample_fps))
    expected = math.floor(duration * sample_fps - 1e-9) + 1
    assert len(got) == expected
    times = np.array([t for _, t, _ in got])
    indices = [i for i, _, _ in got]
    assert indices == sorted(set(indices))
    # Each sampled frame is the one nearest its instant k / sample_fps (within half a frame).
    assert np.all(np.abs(times - np.arange(expected) / sample_fps) <= 0.5 / fps + 1e-6)
    for index, t, frame in got:
        assert frame.shape == (CLIPS[prefix][1], CLIPS[prefix][0], 3) and frame.dtype == np.uint8
        assert t == pytest.approx(index / fps, abs=1e-3)


@pytest.mark.parametrize("prefix", ["03", "06"])  # 06 has a variable frame rate
def test_segments_sample_the_same_frames_as_one_run(prefix):
    path = video(prefix)
    whole = [(i, round(t, 3)) for i, t, _ in iter_sampled_frames(path, 2.0)]
    pieces = []
    for start in range(0, 30, 2):
        pieces += [(i, round(t, 3)) for i, t, _ in iter_sampled_frames(path, 2.0, start, start + 2)]
    times = [t for _, t in pieces]
    assert len(times) == len(set(times)), "a frame was sampled by two segments"
    # The same frames (by their timestamps) as one long run.
    assert [t for _, t in pieces] == [t for _, t in whole]
    if prefix == "03":  # constant frame rate: the frame numbers agree too (with a variable rate,
        # OpenCV numbers frames after a seek from the average rate, so only t is exact)
        assert pieces == whole


def test_sampled_frames_match_sequential_decoding():
    path = video("07")
    sequential = decoded_frames(path)
    for index, _, frame in iter_sampled_frames(path, 2.0):
        assert np.array_equal(frame, sequential[index])


@pytest.mark.parametrize("prefix", ["01", "06"])  # 1080p H.264; a variable frame rate
def test_one_decoding_thread_gives_the_same_frames(prefix):
    """The decoding thread count changes how FFmpeg spends the cores, never which frames come out."""
    path = video(prefix)
    threaded = list(iter_sampled_frames(path, 5.0))
    single = list(iter_sampled_frames(path, 5.0, decode_threads=1))
    assert len(single) == len(threaded) > 10
    for (i, t, frame), (j, u, other) in zip(threaded, single):
        assert (i, t) == (j, u) and np.array_equal(frame, other)


def test_image_is_one_frame_at_time_zero():
    got = list(iter_sampled_frames(photo("15"), 2.0))
    assert len(got) == 1
    index, t, frame = got[0]
    assert (index, t, frame.shape) == (0, 0.0, (375, 500, 3))
    assert list(iter_sampled_frames(photo("15"), 2.0, t_start=60.0)) == []


def test_bad_sampling_arguments_are_refused():
    with pytest.raises(ValueError, match="sample_fps"):
        iter_sampled_frames(video("07"), 0)
    with pytest.raises(ValueError):
        iter_sampled_frames(video("07"), 2.0, t_start=5.0, t_end=1.0)
    with pytest.raises(ValueError, match="decode_threads"):
        iter_sampled_frames(video("07"), 2.0, decode_threads=0)


def test_segment_past_the_end_is_empty_not_an_error():
    frames = iter_sampled_frames(video("07"), 2.0, t_start=100.0, t_end=160.0)
    assert list(frames) == [] and not frames.stopped_early


def test_read_frame_at():
    frame = read_frame_at(video("03"), 10.0)
    assert frame.shape == (360, 640, 3)
    with pytest.raises(VideoReadError):
        read_frame_at(video("03"), 500.0)


def _write(path, frames: int, fps: int = 10, fourcc: str = "VP80", size=(320, 240)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc}"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 7) % 256, np.uint8))
    writer.release()
    return path


def _strip_webm_duration(path):
    """Replace the WebM Duration element by an EBML Void element of the same length: what a
    browser's MediaRecorder writes (a stream with no stated length)."""
    data = path.read_bytes()
    i = data.find(b"\x44\x89")
    size = data[i + 2]
    assert size & 0x80
    total = 3 + (size & 0x7F)
    path.write_bytes(data[:i] + bytes([0xEC, 0x80 | (total - 2)]) + bytes(total - 2) + data[i + total:])
    return path


def test_webm_without_a_stated_duration(tmp_path):
    clip = _strip_webm_duration(_write(tmp_path / "recorded.webm", frames=30))
    cap = cv2.VideoCapture(str(clip))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0  # OpenCV cannot tell its length
    cap.release()
    info = probe_media(clip)
    assert (info.kind, info.frame_count, info.duration_s) == ("video", 30, 3.0)
    frames = iter_sampled_frames(clip, 2.0)
    assert [round(t, 2) for _, t, _ in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert not frames.stopped_early


@pytest.mark.parametrize("name,fourcc", [("clip.avi", "MJPG"), ("clip.mkv", "XVID"), ("clip.webm", "VP80")])
def test_other_containers(tmp_path, name, fourcc):
    clip = _write(tmp_path / name, frames=25, fourcc=fourcc)
    info = probe_media(clip)
    assert (info.kind, info.frame_count, info.width, info.height) == ("video", 25, 320, 240)
    assert len(list(iter_sampled_frames(clip, 4.0))) == 10


def test_one_frame_video(tmp_path):
    clip = _write(tmp_path / "one.avi", frames=1, fourcc="MJPG")
    info = probe_media(clip)
    assert info.frame_count == 1 and info.kind == "video"
    assert len(list(iter_sampled_frames(clip, 2.0))) == 1
