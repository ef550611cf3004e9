"""Figure builders: pure functions from timeline buckets to plotly Figures.

No database access and no request here, so pages, reports and tests can call them with any
sequence of buckets (TimelineBucket rows or dicts with the same keys). Every emotion keeps its
colour from emo7ion_site.plotting across every chart.
"""
from __future__ import annotations

from typing import Any, Iterable

import plotly.graph_objects as go

from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def _get(bucket: Any, key: str, default=None):
    if isinstance(bucket, dict):
        return bucket.get(key, default)
    return getattr(bucket, key, default)


def _clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds % 1 else f"{seconds:.0f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


def base_layout(**overrides) -> dict:
    layout = dict(font=FONT, margin=dict(l=55, r=20, t=40, b=45), plot_bgcolor="#fff", paper_bgcolor="#fff",
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="x unified")
    layout.update(overrides)
    return layout


def emotion_timeline(buckets: Iterable, *, title: str = "Emotion over time") -> go.Figure:
    """Stacked shares of each emotion (as the top emotion of each face seen) per time bucket.

    Buckets in which no face was seen stay empty rather than pretending to be 0% of everything."""
    buckets = list(buckets)
    mids = [(float(_get(b, "t_start")) + float(_get(b, "t_end"))) / 2 for b in buckets]
    widths = [float(_get(b, "t_end")) - float(_get(b, "t_start")) for b in buckets]
    faces = [int(_get(b, "faces", 0) or 0) for b in buckets]
    spans = [f"{_clock(_get(b, 't_start'))}–{_clock(_get(b, 't_end'))}" for b in buckets]
    fig = go.Figure()
    for emotion in EMOTIONS:
        shares = []
        for b, n in zip(buckets, faces):
            share = (_get(b, "emotion_shares") or {}).get(emotion)
            shares.append(None if n == 0 or share is None else round(100.0 * float(share), 2))
        fig.add_bar(x=mids, y=shares, width=widths, name=emotion, marker_color=EMOTION_COLOURS[emotion],
                    customdata=list(zip(spans, faces)),
                    hovertemplate=f"{emotion}: %{{y:.1f}}%<extra>%{{customdata[0]}} · %{{customdata[1]}} faces</extra>")
    fig.update_layout(**base_layout(title=dict(text=title, x=0), barmode="stack", bargap=0.05))
    fig.update_yaxes(title_text="share of faces (%)", range=[0, 100], ticksuffix="%")
    fig.update_xaxes(title_text="time in footage (s)", rangemode="tozero")
    return fig


def timeline_figures(buckets: Iterable) -> dict[str, go.Figure]:
    """The figures the analysis page draws, by element id."""
    return {"emotion-timeline": emotion_timeline(buckets)}
