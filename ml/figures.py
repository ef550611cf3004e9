"""Plotly figures for the ML operations pages. Every emotion keeps its colour from
emo7ion_site.plotting; charts whose series are not emotions (groups, metrics) use heatmaps,
patterns or neutral colours so no colour ever means two things."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

_LAYOUT = dict(margin=dict(l=50, r=20, t=40, b=40), height=340, template="plotly_white",
               font=dict(family="system-ui, sans-serif", size=12), legend=dict(orientation="h", y=-0.2))


def _colour(label: str) -> str:
    return EMOTION_COLOURS.get(label, "#555555")


def class_balance(class_counts: dict[str, int], title: str = "Images per class") -> go.Figure:
    labels = [label for label in EMOTIONS if label in class_counts] + [k for k in class_counts if k not in EMOTIONS]
    counts = [class_counts[label] for label in labels]
    total = sum(counts) or 1
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=[_colour(label) for label in labels],
                           text=[f"{c:,} ({c / total:.0%})" for c in counts], textposition="outside",
                           hovertemplate="%{x}: %{y:,} images<extra></extra>"))
    fig.update_layout(**_LAYOUT, title=title, yaxis_title="images", showlegend=False)
    return fig


def attribute_counts(attributes: dict[str, dict[str, int]]) -> go.Figure:
    """One horizontal bar group per attribute: how many images each group has."""
    fig = make_subplots(rows=1, cols=max(1, len(attributes)), subplot_titles=list(attributes) or [""])
    for i, (attr, groups) in enumerate(attributes.items(), start=1):
        names = sorted(groups)
        fig.add_trace(go.Bar(y=names, x=[groups[g] for g in names], orientation="h", marker_color="#5b6475",
                             name=attr, hovertemplate="%{y}: %{x} images<extra></extra>"), row=1, col=i)
    fig.update_layout(**{**_LAYOUT, "height": 320, "margin": dict(l=50, r=20, t=80, b=40)},
                      title="Images per group", showlegend=False)
    return fig


def training_curves(history: list[dict], title: str = "Training curves") -> go.Figure:
    """Loss and accuracy per epoch, training and validation (dashed); a k-fold run's folds one after
    the other."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    by_fold = any("fold" in h for h in history)
    epochs = list(range(1, len(history) + 1)) if by_fold else [h.get("epoch") for h in history]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for key, name, dash in ((metric, "training", "solid"), (f"val_{metric}", "validation", "dash")):
            values = [h.get(key) for h in history]
            if any(v is not None for v in values):
                fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=f"{name} {metric}",
                                         line=dict(dash=dash, color="#0072B2" if name == "training" else "#D55E00"),
                                         hovertemplate=f"epoch %{{x}}: %{{y:.4f}}<extra>{name} {metric}</extra>"),
                              row=1, col=col)
    fig.update_xaxes(title_text="epoch, fold after fold" if by_fold else "epoch", tickformat="d")
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(**_LAYOUT, title=title)
    return fig


def per_class_metrics(per_class: dict[str, dict], title: str = "Per-class precision, recall and F1") -> go.Figure:
    labels = [label for label in EMOTIONS if label in per_class] + [k for k in per_class if k not in EMOTIONS]
    fig = go.Figure()
    # One colour per emotion across the three metrics; the metric is told apart by its pattern.
    for metric, pattern in (("precision", ""), ("recall", "/"), ("f1", ".")):
        fig.add_trace(go.Bar(
            name=metric, x=labels, y=[per_class[label].get(metric) for label in labels],
            marker=dict(color=[_colour(label) for label in labels], pattern_shape=pattern,
                        line=dict(color="#1d2330", width=0.5)),
            customdata=[per_class[label].get("support") for label in labels],
            hovertemplate="%{x} " + metric + ": %{y:.1%} (support %{customdata})<extra></extra>"))
    fig.update_layout(**_LAYOUT, title=title, barmode="group", yaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


def confusion_heatmap(matrix: list[list[int]], labels: list[str],
                      title: str = "Confusion matrix (rows: true class, normalised)") -> go.Figure:
    z, text = [], []
    for row in matrix:
        total = sum(row)
        z.append([(v / total) if total else None for v in row])
        text.append([f"{v / total:.0%}<br>{v}" if total else "" for v in row])
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="Blues",
                               zmin=0, zmax=1, colorbar=dict(tickformat=".0%"),
                               hovertemplate="true %{y}, predicted %{x}: %{z:.1%}<extra></extra>"))
    fig.update_layout(**{**_LAYOUT, "height": 460}, title=title, xaxis_title="predicted",
                      yaxis=dict(title="true", autorange="reversed"))
    return fig


def group_accuracy(attr: str, entry: dict, gap_threshold: float) -> go.Figure:
    """Accuracy per group with its 95% interval; the best group's accuracy minus the threshold is
    drawn as the line a group falls below to be flagged."""
    groups = list(entry["groups"])
    acc = [entry["groups"][g]["accuracy"] for g in groups]
    ci = [entry["groups"][g].get("accuracy_ci95") or [a, a] for g, a in zip(groups, acc)]
    compared = set(entry.get("compared_groups", groups))
    fig = go.Figure(go.Bar(
        x=groups, y=acc, marker_color=["#0072B2" if g in compared else "#c4c9d4" for g in groups],
        error_y=dict(type="data", symmetric=False, array=[(c[1] - a) if a is not None else 0 for c, a in zip(ci, acc)],
                     arrayminus=[(a - c[0]) if a is not None else 0 for c, a in zip(ci, acc)]),
        customdata=[entry["groups"][g]["n"] for g in groups],
        hovertemplate="%{x}: %{y:.1%} of %{customdata} images<extra></extra>"))
    best = max((a for g, a in zip(groups, acc) if a is not None and g in compared), default=None)
    if best is not None:
        fig.add_hline(y=best - gap_threshold, line_dash="dot", line_color="#b3261e",
                      annotation_text=f"best − {gap_threshold:.0%}", annotation_position="top left")
    fig.update_layout(**_LAYOUT, title=f"Accuracy by {attr}", yaxis=dict(range=[0, 1], tickformat=".0%"),
                      showlegend=False)
    return fig


def group_recall_heatmap(attr: str, entry: dict, labels: list[str]) -> go.Figure:
    groups = list(entry["groups"])
    z = [[entry["groups"][g]["per_class_recall"].get(label) for label in labels] for g in groups]
    support = [[entry["groups"][g]["per_class_support"].get(label, 0) for label in labels] for g in groups]
    text = [[(f"{v:.0%}<br>n={s}" if v is not None else "–") for v, s in zip(row, srow)]
            for row, srow in zip(z, support)]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=groups, text=text, texttemplate="%{text}", colorscale="Blues",
                               zmin=0, zmax=1, colorbar=dict(tickformat=".0%"),
                               hovertemplate="%{y}, %{x}: recall %{z:.1%}<extra></extra>"))
    fig.update_layout(**{**_LAYOUT, "height": max(220, 60 + 50 * len(groups))},
                      title=f"Per-class recall by {attr}")
    return fig


def predicted_share_parity(attr: str, entry: dict, labels: list[str]) -> go.Figure:
    """Stacked predicted shares per group, one emotion colour each: unequal bands are the parity gaps."""
    groups = list(entry["groups"])
    fig = go.Figure()
    for label in labels:
        shares = [entry["groups"][g]["predicted_shares"].get(label, 0) for g in groups]
        gap = entry.get("parity_difference", {}).get(label)
        fig.add_trace(go.Bar(
            name=f"{label}" + (f" (Δ {gap:.0%})" if gap is not None else ""), y=groups, x=shares, orientation="h",
            marker_color=_colour(label), hovertemplate=f"%{{y}}: {label} %{{x:.1%}}<extra></extra>"))
    fig.update_layout(**{**_LAYOUT, "height": max(260, 120 + 45 * len(groups))}, barmode="stack",
                      title=f"Predicted emotion shares by {attr} (Δ = largest difference between groups)",
                      xaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


def parity_differences(result: dict) -> go.Figure:
    """Per emotion, the largest predicted-share difference between groups, per attribute."""
    labels = result.get("labels", list(EMOTIONS))
    fig = go.Figure()
    attrs = list(result.get("attributes", {}))
    for attr in attrs:
        diffs = result["attributes"][attr].get("parity_difference", {})
        fig.add_trace(go.Bar(name=attr, x=labels, y=[diffs.get(label) for label in labels],
                             marker=dict(color=[_colour(label) for label in labels],
                                         pattern_shape=["", "/", ".", "x", "+", "-"][attrs.index(attr) % 6],
                                         line=dict(color="#1d2330", width=0.5)),
                             hovertemplate=f"{attr}, %{{x}}: %{{y:.1%}}<extra></extra>"))
    fig.add_hline(y=result.get("gap_threshold", 0.1), line_dash="dot", line_color="#b3261e",
                  annotation_text="threshold", annotation_position="top left")
    fig.update_layout(**_LAYOUT, title="Demographic parity difference of predicted shares", barmode="group",
                      yaxis=dict(tickformat=".0%", rangemode="tozero"))
    return fig


_SUMMARISED = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"))


def crossval_folds(cross_validation: dict, title: str = "k-fold cross-validation") -> go.Figure:
    """Each fold's accuracy, balanced accuracy and macro-F1 as points, and their mean ± sd (bars with
    error bars) once every fold has finished: how much the recipe's score moves with its data."""
    results = [r for r in cross_validation.get("results", []) if r.get("accuracy") is not None]
    summary = cross_validation.get("summary") or {}
    names = [label for _, label in _SUMMARISED]
    fig = go.Figure()
    if summary:
        fig.add_trace(go.Bar(
            x=names, y=[summary[k]["mean"] for k, _ in _SUMMARISED], name="mean ± sd", marker_color="#c4d7ea",
            error_y=dict(type="data", array=[summary[k]["sd"] for k, _ in _SUMMARISED], color="#1d2330"),
            hovertemplate="%{x}: mean %{y:.1%}<extra></extra>"))
    for row in results:
        fig.add_trace(go.Scatter(
            x=names, y=[row[k] for k, _ in _SUMMARISED], mode="markers", name=f"fold {row['fold']}",
            marker=dict(size=9, color="#0072B2", symbol=["circle", "square", "diamond", "triangle-up", "x",
                                                          "cross", "star"][(row["fold"] - 1) % 7]),
            hovertemplate=f"fold {row['fold']}, " + "%{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(**_LAYOUT, title=title, yaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


def reliability_diagram(bins: list[dict], ece: float | None, title: str = "Reliability diagram") -> go.Figure:
    """Per confidence bin, how often the most probable class was right, against the diagonal a
    perfectly calibrated model would follow; ECE is the faces-weighted mean gap."""
    filled = [b for b in bins if b.get("n")]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(dash="dot", color="#8a8f99"), hoverinfo="skip"))
    fig.add_trace(go.Bar(
        x=[(b["lower"] + b["upper"]) / 2 for b in filled], y=[b["accuracy"] for b in filled],
        width=[b["upper"] - b["lower"] for b in filled], name="accuracy in the bin", marker_color="#0072B2",
        customdata=[[b["confidence"], b["n"]] for b in filled],
        hovertemplate="confidence %{customdata[0]:.1%}: right %{y:.1%} of %{customdata[1]} faces<extra></extra>"))
    suffix = f" (ECE {ece:.3f})" if ece is not None else ""
    fig.update_layout(**_LAYOUT, title=title + suffix, bargap=0.05,
                      xaxis=dict(title="confidence (probability of the predicted class)", range=[0, 1], tickformat=".0%"),
                      yaxis=dict(title="accuracy", range=[0, 1], tickformat=".0%"))
    return fig


def tuning_trials(trials: list[dict], title: str = "Validation accuracy per trial") -> go.Figure:
    """Each finished trial's best validation accuracy, in the order the search ran them."""
    scored = [t for t in trials if t.get("val_accuracy") is not None]
    fig = go.Figure(go.Scatter(
        x=list(range(1, len(scored) + 1)), y=[t["val_accuracy"] for t in scored], mode="markers+lines",
        marker=dict(size=9, color="#0072B2"), line=dict(color="#c4c9d4"),
        text=[", ".join(f"{k} {v:g}" for k, v in sorted(t["hyperparameters"].items())) for t in scored],
        hovertemplate="trial %{x}: %{y:.1%}<br>%{text}<extra></extra>"))
    fig.update_layout(**_LAYOUT, title=title, xaxis=dict(title="trial", tickformat="d"),
                      yaxis=dict(title="validation accuracy", rangemode="tozero", tickformat=".0%"))
    return fig
