"""Helpers for the end-to-end tests (real worker processes, real services)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import shared_glob


def clip(pattern: str) -> Path:
    return shared_glob("media/videos", pattern)


def timeline_bars(html: str) -> list[float]:
    """The emotion-timeline bar heights the analysis page hands to plotly.js (non-empty buckets only)."""
    match = re.search(r'<script type="application/json" id="figures-data">(.*?)</script>', html, re.S)
    assert match, "the analysis page has no figure data"
    figure = json.loads(match.group(1))["emotion-timeline"]
    assert 'id="emotion-timeline"' in html
    return [y for trace in figure["data"] for y in trace["y"] if y]
