"""What every chart shares: one colour per emotion (Okabe-Ito, colour-blind safe) and the
way figures reach the page (JSON drawn by the local plotly.min.js; no CDN)."""
from __future__ import annotations

import json

from ml.engine.labels import EMOTIONS

# Okabe & Ito (2008) palette: distinguishable with the common colour-vision deficiencies.
EMOTION_COLOURS: dict[str, str] = {
    "angry": "#D55E00",     # vermillion
    "disgust": "#009E73",   # bluish green
    "fear": "#CC79A7",      # reddish purple
    "happy": "#E69F00",     # orange
    "sad": "#0072B2",       # blue
    "surprise": "#F0E442",  # yellow
    "neutral": "#999999",   # grey
}
assert set(EMOTION_COLOURS) == set(EMOTIONS)

POSITIVE = ("happy", "surprise")
NEGATIVE = ("angry", "disgust", "fear", "sad")
NEUTRAL = ("neutral",)


def figure_json(fig) -> str:
    """Serialise a plotly Figure for `{{ fig|safe }}` inside a <script type="application/json">."""
    return fig.to_json().replace("</", "<\\/")


def figures_json(figures: dict) -> str:
    return json.dumps({k: json.loads(v.to_json()) for k, v in figures.items()}).replace("</", "<\\/")
