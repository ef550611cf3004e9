"""Helpers for the end-to-end tests (real worker processes, real services)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import shared_glob


def clip(pattern: str) -> Path:
    return shared_glob("media/videos", pattern)


def timeline_bars(html: str) -> list[float]:
    """The emotion-timeline bar heights (shares) the analysis page hands to plotly.js (non-empty buckets only)."""
    match = re.search(r'<script type="application/json" class="js-figure" data-target="fig-timeline">(.*?)</script>',
                      html, re.S)
    assert match, "the analysis page has no timeline figure data"
    figure = json.loads(match.group(1))
    assert 'id="fig-timeline"' in html
    return [y for trace in figure["data"] if trace["type"] == "bar" for y in trace["y"] if y]
