"""What a media file's container says it holds, read from its structure without decoding anything.

OpenCV only says "cannot open" about a file with no video stream (an audio-only MP4 or WebM, an MP3 named
.mp4) and about a video whose codec its FFmpeg cannot decode alike. Reading the container's track list
tells them apart, so the person hears which it is (`ml.engine.video`). MP4/QuickTime (ISO base media) and
Matroska/WebM are read; the common audio-only formats are known by their first bytes. Anything else, or a
container too broken to read (a video cut before its index), says nothing: `describe_streams` is None.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# Formats that never hold video, known by their first bytes.
_AUDIO_MAGIC = ((b"ID3", "MP3"), (b"fLaC", "FLAC"), (b"#!AMR", "AMR"), (b"MThd", "MIDI"))
_MAX_BOX_DEPTH = 6
_MATROSKA_READ_BYTES = 4 << 20  # the track list sits near the start of the file


@dataclass(frozen=True)
class Streams:
    container: str
    video: tuple[str, ...] = ()  # the codec of each video track (a fourcc, or Matroska's codec id)
    audio: tuple[str, ...] = ()


def _audio_by_magic(head: bytes) -> Streams | None:
    for magic, name in _AUDIO_MAGIC:
        if head.startswith(magic):
            return Streams(f"{name} audio", audio=(name,))
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Streams("WAV audio", audio=("WAV",))
    if head[:4] == b"OggS" and (b"OpusHead" in head or b"\x01vorbis" in head) and b"theora" not in head:
        return Streams("Ogg audio", audio=("Opus" if b"OpusHead" in head else "Vorbis",))
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio / ADTS frame sync
        return Streams("MPEG audio", audio=("AAC" if head[1] & 0x06 == 0 else "MP3",))
    return None


# --- MP4 / QuickTime: boxes of (32-bit size, 4-letter type) --------------------------------------------

def _boxes(fh, start: int, end: int):
    """(type, payload start, payload end) of the boxes in [start, end)."""
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        size, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", fh.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _child(fh, start: int, end: int, kind: bytes):
    return next(((s, e) for k, s, e in _boxes(fh, start, end) if k == kind), None)


def _mp4_track(fh, start: int, end: int) -> tuple[bytes, str] | None:
    """(handler type, codec fourcc) of one `trak` box."""
    mdia = _child(fh, start, end, b"mdia")
    hdlr = mdia and _child(fh, *mdia, b"hdlr")
    if not hdlr:
        return None
    fh.seek(hdlr[0] + 8)  # version and flags, pre_defined
    handler = fh.read(4)
    codec = ""
    minf = _child(fh, *mdia, b"minf")
    stbl = minf and _child(fh, *minf, b"stbl")
    stsd = stbl and _child(fh, *stbl, b"stsd")
    if stsd and stsd[1] - stsd[0] >= 16:
        fh.seek(stsd[0] + 12)  # version and flags, entry count, the first entry's size
        codec = fh.read(4).decode("latin-1").strip("\x00 ") or "?"
    return handler, codec


def _mp4_streams(fh, size: int) -> Streams | None:
    moov = _child(fh, 0, size, b"moov")
    if moov is None:
        return None  # no index: a file cut short, or not MP4 after all
    tracks = [t for k, s, e in _boxes(fh, *moov) if k == b"trak" and (t := _mp4_track(fh, s, e))]
    return Streams("MP4", video=tuple(c for h, c in tracks if h == b"vide"),
                   audio=tuple(c for h, c in tracks if h == b"soun"))


# --- Matroska / WebM: EBML elements of (variable-length id, variable-length size) ----------------------

_SEGMENT, _TRACKS, _TRACK_ENTRY, _TRACK_TYPE, _CODEC_ID = 0x18538067, 0x1654AE6B, 0xAE, 0x83, 0x86
_UNKNOWN_SIZE = -1


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML number")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1:pos + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        value = _UNKNOWN_SIZE
    return value, pos + length


def _elements(data: bytes, start: int, end: int):
    pos = start
    while pos < end:
        element, pos = _vint(data, pos, keep_marker=True)
        size, pos = _vint(data, pos, keep_marker=False)
        stop = end if size == _UNKNOWN_SIZE else min(end, pos + size)
        yield element, pos, stop
        pos = stop


def _matroska_streams(data: bytes) -> Streams | None:
    video, audio = [], []
    for element, start, end in _elements(data, 0, len(data)):
        if element != _SEGMENT:
            continue
        for child, c_start, c_end in _elements(data, start, end):
            if child != _TRACKS:
                continue
            for entry, e_start, e_end in _elements(data, c_start, c_end):
                fields = {k: data[s:e] for k, s, e in _elements(data, e_start, e_end) if entry == _TRACK_ENTRY}
                kind = int.from_bytes(fields.get(_TRACK_TYPE, b""), "big")
                codec = fields.get(_CODEC_ID, b"?").decode("ascii", "replace").strip("\x00")
                (video if kind == 1 else audio if kind == 2 else []).append(codec)
            return Streams("WebM/Matroska", video=tuple(video), audio=tuple(audio))
    return None


def describe_streams(path: str | Path) -> Streams | None:
    """The container and codecs of a media file's tracks, or None when its structure says nothing."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
            audio = _audio_by_magic(head)
            if audio is not None:
                return audio
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                return _mp4_streams(fh, size)
            if head[:4] == b"\x1a\x45\xdf\xa3":
                fh.seek(0)
                return _matroska_streams(fh.read(_MATROSKA_READ_BYTES))
    except (OSError, ValueError, IndexError, struct.error):
        return None
    return None
