"""Plotly figures for the analysis page, the analysis report and the project report: one builder per chart.

Pure functions: plain data in (timeline buckets, shares, comparison rows), a `plotly.graph_objects
.Figure` out; no database and no request. Every emotion keeps its colour from
`emo7ion_site.plotting.EMOTION_COLOURS` on every chart, so a reader learns the key once.
"""
from __future__ import annotations

import plotly.graph_objects as go

from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

from .formatting import GROUPS

INK = "#1d2330"
GRID = "#e3e6ee"
CROWD = "#12203a"   # not an emotion colour: counts of faces are drawn in the page's ink
CROWD_LIGHT = "#8c96a8"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _layout(height: int = 380, **overrides) -> dict:
    # template=None keeps each figure's JSON to its data (plotly's default template is ~6 kB per chart).
    layout = dict(
        template=None, height=height, autosize=True, font=dict(family=FONT, size=13, color=INK),
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", margin=dict(l=60, r=60, t=40, b=50),
        # Legend above the plot: below it, it collides with the time axis title on narrow screens.
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, traceorder="normal"),
        hoverlabel=dict(font=dict(family=FONT)),
        xaxis=dict(gridcolor=GRID, zeroline=False, automargin=True, linecolor=GRID),
        yaxis=dict(gridcolor=GRID, zeroline=False, automargin=True, linecolor=GRID),
    )
    layout.update(overrides)
    return layout


def time_unit(duration_s: float) -> tuple[float, str]:
    """Seconds for clips up to ten minutes, minutes beyond: axis numbers a person can read."""
    return (60.0, "minutes") if duration_s > 600 else (1.0, "seconds")


def _bucket_axis(buckets: list[dict]) -> tuple[list[float], list[float], str]:
    end = max((b["t_end"] for b in buckets), default=0.0)
    scale, unit = time_unit(end)
    mids = [round((b["t_start"] + b["t_end"]) / 2 / scale, 4) for b in buckets]
    widths = [round(max(b["t_end"] - b["t_start"], 1.0) / scale * 0.92, 4) for b in buckets]
    return mids, widths, unit


def _emotion_label(e: str) -> str:
    # A coloured square before the name ties axis labels to the same key as every other chart.
    return f'<span style="color:{EMOTION_COLOURS[e]}">■</span> {e}'


def _share_or_gap(bucket: dict, emotion: str) -> float | None:
    # A window in which nobody was seen has no bar, rather than pretending to be 0% of everything.
    return round(bucket["emotion_shares"].get(emotion, 0.0), 4) if bucket["faces"] else None


def emotion_timeline_figure(buckets: list[dict]) -> go.Figure:
    """Stacked top-emotion shares per time bucket, with mean faces per sampled frame on a second axis.
    The one timeline chart: the analysis page, the report and the project report all draw this."""
    x, widths, unit = _bucket_axis(buckets)
    fig = go.Figure()
    for e in EMOTIONS:
        fig.add_trace(go.Bar(
            x=x, y=[_share_or_gap(b, e) for b in buckets], width=widths, name=e,
            marker=dict(color=EMOTION_COLOURS[e], line=dict(width=0)),
            hovertemplate=f"{e}: %{{y:.0%}}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=[round(b["mean_faces_per_frame"], 2) for b in buckets], name="faces per frame", yaxis="y2",
        mode="lines+markers", line=dict(color=CROWD, width=2, dash="dot"), marker=dict(size=5, color=CROWD),
        hovertemplate="faces per frame: %{y:.1f}<extra></extra>"))
    fig.update_layout(**_layout(
        barmode="stack", bargap=0.02, hovermode="x unified",
        xaxis=dict(title=dict(text=f"time ({unit})"), gridcolor=GRID, zeroline=False, automargin=True),
        yaxis=dict(title=dict(text="share of faces"), tickformat=".0%", range=[0, 1], gridcolor=GRID,
                   automargin=True),
        # tickmode "auto": plotly.js would otherwise sync these ticks to the share axis (1.279, 1.599...).
        yaxis2=dict(title=dict(text="faces per frame"), overlaying="y", side="right", rangemode="tozero",
                    showgrid=False, automargin=True, tickmode="auto", nticks=6),
    ))
    return fig


def crowd_size_figure(buckets: list[dict]) -> go.Figure:
    """How many faces were in view over time: mean per sampled frame, and distinct tracks per bucket."""
    x, widths, unit = _bucket_axis(buckets)
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=x, y=[round(b["mean_faces_per_frame"], 2) for b in buckets], width=widths, name="faces per frame (mean)",
        marker=dict(color=CROWD_LIGHT), hovertemplate="faces per frame: %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=[b["unique_tracks"] for b in buckets], name="face tracks in the window", mode="lines+markers",
        line=dict(color=CROWD, width=2), marker=dict(size=5),
        hovertemplate="face tracks: %{y}<extra></extra>"))
    fig.update_layout(**_layout(
        hovermode="x unified",
        xaxis=dict(title=dict(text=f"time ({unit})"), gridcolor=GRID, zeroline=False, automargin=True),
        yaxis=dict(title=dict(text="faces"), rangemode="tozero", gridcolor=GRID, automargin=True),
    ))
    return fig


def emotion_distribution_figure(shares: dict[str, float]) -> go.Figure:
    """The overall share of each expression, one bar per emotion."""
    values = [round(shares.get(e, 0.0), 4) for e in EMOTIONS]
    fig = go.Figure(go.Bar(
        x=values, y=list(EMOTIONS), orientation="h", marker=dict(color=[EMOTION_COLOURS[e] for e in EMOTIONS]),
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1%}<extra></extra>", showlegend=False))
    fig.update_layout(**_layout(
        height=340, margin=dict(l=80, r=40, t=20, b=40),
        xaxis=dict(tickformat=".0%", range=[0, min(1.0, max(values + [0.05]) * 1.2)], gridcolor=GRID,
                   zeroline=False, automargin=True, title=dict(text="share of faces")),
        yaxis=dict(autorange="reversed", automargin=True,
                   tickmode="array", tickvals=list(EMOTIONS), ticktext=[_emotion_label(e) for e in EMOTIONS]),
    ))
    return fig


def emotion_heatmap_figure(buckets: list[dict]) -> go.Figure:
    """Emotion × time: the share of each expression in each bucket, darker = more."""
    x, _, unit = _bucket_axis(buckets)
    z = [[round(b["emotion_shares"].get(e, 0.0), 4) for b in buckets] for e in EMOTIONS]
    peak = max((v for row in z for v in row), default=0.0)
    fig = go.Figure(go.Heatmap(
        x=x, y=list(EMOTIONS), z=z, zmin=0, zmax=max(peak, 0.05),
        # One hue from paper to ink: the emotion colours stay reserved for naming emotions.
        colorscale=[[0.0, "#f6f7fb"], [0.5, "#7f93b8"], [1.0, CROWD]],
        colorbar=dict(title=dict(text="share"), tickformat=".0%", thickness=12),
        hovertemplate="%{y} at %{x}: %{z:.0%}<extra></extra>", xgap=1, ygap=1))
    fig.update_layout(**_layout(
        height=340, margin=dict(l=90, r=20, t=20, b=50),
        xaxis=dict(title=dict(text=f"time ({unit})"), zeroline=False, automargin=True, showgrid=False),
        yaxis=dict(autorange="reversed", automargin=True, showgrid=False,
                   tickmode="array", tickvals=list(EMOTIONS), ticktext=[_emotion_label(e) for e in EMOTIONS]),
    ))
    return fig


def project_shares_figure(rows: list[dict]) -> go.Figure:
    """Side by side: each analysis' emotion shares as a group of bars, one colour per emotion."""
    labels = [f"{i + 1}. {r['label']}" for i, r in enumerate(rows)]
    fig = go.Figure()
    for e in EMOTIONS:
        fig.add_trace(go.Bar(
            x=labels, y=[round(r["emotion_shares"].get(e, 0.0), 4) for r in rows], name=e,
            marker=dict(color=EMOTION_COLOURS[e]), hovertemplate=f"{e}: %{{y:.0%}}<extra>%{{x}}</extra>"))
    fig.update_layout(**_layout(
        barmode="group", bargap=0.18, bargroupgap=0.04,
        yaxis=dict(title=dict(text="share of faces"), tickformat=".0%", rangemode="tozero", gridcolor=GRID,
                   automargin=True),
        xaxis=dict(automargin=True, tickangle=0),
    ))
    return fig


def project_timeline_figure(buckets: list[dict]) -> go.Figure:
    """The project's footage on one relative clock; same encoding as an analysis' timeline."""
    fig = emotion_timeline_figure(buckets)
    fig.update_xaxes(title_text=f"time since each clip started ({_bucket_axis(buckets)[2]})")
    return fig


def analysis_figures(*, timeline_buckets: list[dict], shares: dict[str, float]) -> dict[str, go.Figure]:
    """The four charts of an analysis report, keyed by the id their container gets on the page."""
    return {
        "fig-timeline": emotion_timeline_figure(timeline_buckets),
        "fig-crowd": crowd_size_figure(timeline_buckets),
        "fig-distribution": emotion_distribution_figure(shares),
        "fig-heatmap": emotion_heatmap_figure(timeline_buckets),
    }


# --- Crowd statistics: intervals over face tracks, attention, derived valence and arousal --------------

# Groups have no colour of their own: each borrows its leading expression's, as the key figures do.
GROUP_COLOURS = {"positive": EMOTION_COLOURS["happy"], "negative": EMOTION_COLOURS["angry"],
                 "neutral": EMOTION_COLOURS["neutral"]}
VALENCE = "#2a7f62"
AROUSAL = "#b5581c"
ATTENTION = CROWD
TOO_FEW = "#9aa3b2"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band_traces(x: list, values: list, intervals: list, colour: str, name: str, fmt: str,
                 yaxis: str = "y") -> list[go.Scatter]:
    """A line with its 95% interval as a shaded band (the band's edges are two traces: plotly fills
    between a trace and the one before it). A point with no interval has no band there."""
    low = [None if iv is None or v is None else round(iv[0], 4) for v, iv in zip(values, intervals)]
    high = [None if iv is None or v is None else round(iv[1], 4) for v, iv in zip(values, intervals)]
    group = f"band-{name}"
    return [
        go.Scatter(x=x, y=high, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                   legendgroup=group, yaxis=yaxis, name=f"{name} (95% upper)"),
        go.Scatter(x=x, y=low, mode="lines", line=dict(width=0), fill="tonexty", fillcolor=_rgba(colour, 0.22),
                   hoverinfo="skip", showlegend=False, legendgroup=group, yaxis=yaxis, name=f"{name} (95% lower)"),
        go.Scatter(x=x, y=[None if v is None else round(v, 4) for v in values], name=name, mode="lines+markers",
                   line=dict(color=colour, width=2), marker=dict(size=5, color=colour), legendgroup=group,
                   yaxis=yaxis, customdata=[[lo, hi] for lo, hi in zip(low, high)],
                   hovertemplate=f"{name}: %{{y:{fmt}}} (95%: %{{customdata[0]:{fmt}}}–%{{customdata[1]:{fmt}}})"
                                 "<extra></extra>"),
    ]


def _too_few_trace(x: list, buckets: list[dict], values: list) -> go.Scatter:
    """Windows with faces but too few tracks for an interval: drawn as grey crosses, never as a sure point."""
    ys = [None if not (b.get("too_few_tracks") and b["faces"]) or v is None else round(v, 4)
          for b, v in zip(buckets, values)]
    return go.Scatter(x=x, y=ys, name="too few tracks (no interval)", mode="markers",
                      marker=dict(symbol="x-thin-open", size=9, color=TOO_FEW, line=dict(width=2, color=TOO_FEW)),
                      hovertemplate="too few face tracks to say how sure: %{y:.0%}<extra></extra>")


def _statistics_layout(unit: str, title: str, y_range: list[float], tickformat: str) -> dict:
    return _layout(
        hovermode="x unified",
        xaxis=dict(title=dict(text=f"time ({unit})"), gridcolor=GRID, zeroline=False, automargin=True),
        yaxis=dict(title=dict(text=title), tickformat=tickformat, range=y_range, gridcolor=GRID, automargin=True,
                   zeroline=y_range[0] < 0, zerolinecolor=CROWD_LIGHT))


def share_intervals_figure(buckets: list[dict]) -> go.Figure:
    """Positive, negative and neutral shares per window, each with its 95% interval over face tracks as a
    band; a window with too few tracks is a grey cross without a band, not a certain-looking point."""
    x, _, unit = _bucket_axis(buckets)
    fig = go.Figure()
    for name, members in GROUPS.items():
        values = [sum(b["emotion_shares"].get(e, 0.0) for e in members) if b["faces"] else None for b in buckets]
        sure = [None if b.get("too_few_tracks") is not False else v for b, v in zip(buckets, values)]
        intervals = [(b.get("intervals") or {}).get(name) for b in buckets]
        for trace in _band_traces(x, sure, intervals, GROUP_COLOURS[name], name, ".0%"):
            fig.add_trace(trace)
        if name == "positive":
            fig.add_trace(_too_few_trace(x, buckets, values))
    fig.update_layout(**_statistics_layout(unit, "share of faces", [0, 1], ".0%"))
    return fig


def attention_figure(buckets: list[dict]) -> go.Figure:
    """Share of faces with a head pose that face the camera, per window, with its 95% band."""
    x, _, unit = _bucket_axis(buckets)
    values = [b.get("attention") for b in buckets]
    fig = go.Figure(_band_traces(x, values, [b.get("attention_interval") for b in buckets], ATTENTION,
                                 "facing the camera", ".0%"))
    fig.update_layout(**_statistics_layout(unit, "share facing the camera", [0, 1], ".0%"))
    return fig


def affect_figure(buckets: list[dict]) -> go.Figure:
    """Derived valence and arousal per window (-1 to 1), each with its 95% band. Derived from the seven
    expression probabilities, not measured: the caption and the axis title say so."""
    x, _, unit = _bucket_axis(buckets)
    fig = go.Figure()
    for name, colour in (("valence", VALENCE), ("arousal", AROUSAL)):
        for trace in _band_traces(x, [b.get(name) for b in buckets], [b.get(f"{name}_interval") for b in buckets],
                                  colour, f"{name} (derived)", "+.2f"):
            fig.add_trace(trace)
    fig.update_layout(**_statistics_layout(unit, "derived, not measured (-1 to +1)", [-1, 1], "+.1f"))
    return fig


def statistics_figures(*, timeline_buckets: list[dict], attention_available: bool) -> dict[str, go.Figure]:
    """The crowd-statistics charts, keyed by container id; no attention chart without head poses (Haar)."""
    figures = {"fig-intervals": share_intervals_figure(timeline_buckets)}
    if attention_available:
        figures["fig-attention"] = attention_figure(timeline_buckets)
    figures["fig-affect"] = affect_figure(timeline_buckets)
    return figures
