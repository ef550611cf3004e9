"""Files that are not analysable video, made by hand (no ffmpeg needed): a person's audio recording saved as
.mp4, a video in a codec this server cannot decode, containers with nothing in them, files that are not
media at all. Used by the upload tests and by the worker's bad-input test."""
from __future__ import annotations

import io
import random
import struct
import wave
import zipfile
from pathlib import Path

import cv2


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind: bytes, payload: bytes) -> bytes:
    return _box(kind, b"\0\0\0\0" + payload)  # version 0, no flags


def audio_only_mp4(path: Path) -> Path:
    """An M4A-style MP4 whose one track is AAC audio (what a phone's voice recorder writes)."""
    mp4a = _box(b"mp4a", b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 8 + struct.pack(">HHHHI", 2, 16, 0, 0, 44100 << 16))
    stbl = _box(b"stbl", _full_box(b"stsd", struct.pack(">I", 1) + mp4a) + _full_box(b"stts", b"\0" * 4)
                + _full_box(b"stsc", b"\0" * 4) + _full_box(b"stsz", b"\0" * 8) + _full_box(b"stco", b"\0" * 4))
    mdia = _box(b"mdia", _full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, 44100, 44100, 0x55C4, 0))
                + _full_box(b"hdlr", b"\0" * 4 + b"soun" + b"\0" * 12 + b"SoundHandler\0")
                + _box(b"minf", _full_box(b"smhd", b"\0" * 4) + stbl))
    trak = _box(b"trak", _full_box(b"tkhd", struct.pack(">IIIII", 0, 0, 1, 0, 1000) + b"\0" * 60) + mdia)
    mvhd = _full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 1000) + b"\0" * 76 + struct.pack(">I", 2))
    path.write_bytes(_box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom") + _box(b"moov", mvhd + trak)
                     + _box(b"mdat", bytes(100)))
    return path


def _ebml(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + b"\x01" + len(payload).to_bytes(7, "big") \
        + payload


def audio_only_webm(path: Path) -> Path:
    """A WebM whose one track is Opus audio (a browser's MediaRecorder recording a microphone)."""
    entry = _ebml(0xAE, _ebml(0xD7, b"\x01") + _ebml(0x83, b"\x02") + _ebml(0x86, b"A_OPUS"))
    path.write_bytes(_ebml(0x1A45DFA3, _ebml(0x4282, b"webm")) + _ebml(0x18538067, _ebml(0x1654AE6B, entry)))
    return path


def mp3(path: Path) -> Path:
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(413) * 20)
    return path


def wav(path: Path) -> Path:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(16000))
    path.write_bytes(buffer.getvalue())
    return path


def with_video_codec(source: Path, path: Path, fourcc: bytes) -> Path:
    """`source` (an MP4) with its video track's codec named `fourcc`: 'zzzz' no decoder knows, 'av01' one
    whose frames this server cannot decode."""
    data = bytearray(source.read_bytes())
    entry = data.index(b"stsd") + 16  # after the box type, version and flags, entry count and entry size
    data[entry:entry + 4] = fourcc
    path.write_bytes(bytes(data))
    return path


def trackless_mp4(path: Path) -> Path:
    """An MP4 a recorder closed before its first frame: a container with no track in it."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()
    return path


def header_only_mp4(path: Path) -> Path:
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0isomiso2mp41"))
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(random.Random(7).randbytes(50_000))
    return path


def zip_archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("holiday/clip.mp4", bytes(1000))
    return path


def html_page(path: Path) -> Path:
    """What a download link that needed a login saves: the sign-in page, named like the video."""
    path.write_text("<!DOCTYPE html><html><head><title>Sign in</title></head><body>" + "<p>Please sign in.</p>" * 50)
    return path
