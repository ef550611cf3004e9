"""How report numbers read: timestamps, spans, shares, the emotion groups and their definitions.

Pure functions over plain values (no database), shared by the selectors, figures, exports and pages."""
from __future__ import annotations

from emo7ion_site.plotting import EMOTION_COLOURS, NEGATIVE, NEUTRAL, POSITIVE
from ml.engine.labels import EMOTIONS
from ml.engine.statistics import MIN_TRACKS

DEFINITIONS = {
    "faces_seen": "Face observations: every face found in every sampled frame counts once, so one person "
                  "in view for 10 sampled frames counts 10 times.",
    "unique_faces": "Face tracks: a face followed from frame to frame within this footage. A person who "
                    "leaves and comes back starts a new track; tracks never identify anyone.",
    "frames_analysed": "Frames sampled from the footage at the analysis' sample rate and searched for faces.",
    "dominant_emotion": "The expression most often read as the most likely one on a face observation.",
    "positive": "Share of face observations whose most likely expression is happy or surprise.",
    "negative": "Share of face observations whose most likely expression is angry, disgust, fear or sad.",
    "neutral": "Share of face observations whose most likely expression is neutral.",
    "mean_faces": "Mean number of faces found per sampled frame.",
    "interval": "95% interval over people: the range the share would likely fall in for another crowd like "
                "this one. It comes from resampling face tracks, not frames, so a person seen in many frames "
                "counts as one person.",
    "too_few_tracks": f"Fewer than {MIN_TRACKS} face tracks: too few people to say how sure the number is, so "
                      "no interval is drawn.",
    "attention": "Share of face observations whose head points within 30° left/right and 30° up/down of the "
                 "camera, estimated from the detector's five face landmarks (eyes, nose tip, mouth corners) "
                 "against a generic 3-D face. A proxy for facing the stage when the camera is near it.",
    "attention_unavailable": "Not available: this analysis' face detector (Haar) gives no face landmarks, so "
                             "head direction cannot be estimated. Analyse with YuNet to get it.",
    "valence": "Derived, not measured: the mean over faces of the seven expression probabilities placed on "
               "Russell's circumplex (1980): +1 pleasant (happy) to -1 unpleasant (sad, angry, disgust).",
    "arousal": "Derived, not measured: the same weighting on the activated (+1: surprise, fear, angry) to calm "
               "(-1) axis. Neutral sits at 0 on both axes.",
    "face_time": "Share of the sampled frames in which at least one face was found: how much of the footage "
                 "had anyone visible.",
    "valence_trend": "Mean derived valence in the second half of the footage minus the first half. Called "
                     "rising or falling only when its 95% interval excludes zero.",
    "strongest_moments": "The time windows with the highest and the lowest derived valence, among windows "
                         "with enough face tracks for an interval.",
    "marked_moments": "Time ranges you named (“Opening act”, “Q&A”), each with the crowd's numbers over "
                      "the faces seen in it and their 95% intervals over face tracks.",
    "moment_difference": "A difference is flagged only when the two 95% intervals do not overlap and a permutation "
                         "test over face tracks (shuffling which range each person's observations belong to) "
                         "finds it at the 5% level. Anything else may be chance. A person in view during both "
                         "ranges counts in each.",
    "analysis_difference": "Compared with the footage above it: flagged only when the two 95% intervals do not "
                           "overlap and a permutation test over face tracks finds the difference at the 5% level.",
}

GROUPS = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}
NO_COLOUR = "#999999"


def format_timestamp(seconds: float | None) -> str:
    """'1:02:03', '2:05' or '0:07.5': the way a person reads a position in a video."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    whole = int(seconds)
    frac = seconds - whole
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if frac >= 0.05 and not h:
        text += f".{int(round(frac * 10)) % 10}"
    return text


def format_span(seconds: float) -> str:
    """A length of time as people say it: '1 s', '30 s', '5 min', '1 h'."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def shares_from_counts(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.get(e, 0) for e in EMOTIONS)
    return {e: (counts.get(e, 0) / total if total else 0.0) for e in EMOTIONS}


def group_shares(shares: dict[str, float]) -> dict[str, float]:
    return {name: sum(shares.get(e, 0.0) for e in members) for name, members in GROUPS.items()}


def dominant_of(values: dict[str, float]) -> str | None:
    if not values or not any(values.get(e) for e in EMOTIONS):
        return None
    # FER order breaks ties, so the answer is the same on every database.
    return max(EMOTIONS, key=lambda e: (values.get(e) or 0.0, -EMOTIONS.index(e)))


def colour_of(emotion: str | None) -> str:
    return EMOTION_COLOURS.get(emotion or "", NO_COLOUR)


def emotion_rows(values: dict[str, float]) -> list[dict]:
    """[{emotion, value, colour}] in FER order: templates cannot index a dict by a variable."""
    return [{"emotion": e, "value": float(values.get(e, 0.0)), "colour": EMOTION_COLOURS[e]} for e in EMOTIONS]


def group_rows(groups: dict[str, float], intervals: dict | None = None) -> list[dict]:
    """The positive / negative / neutral shares with their definitions, member colours and (when
    finalize stored them) 95% intervals, stored under the same names (neutral is one expression)."""
    intervals = intervals or {}
    return [{"name": name, "share": groups[name], "definition": DEFINITIONS[name],
             "interval": interval_view(intervals.get(name), groups[name]),
             "members": [{"emotion": e, "colour": EMOTION_COLOURS[e]} for e in GROUPS[name]]}
            for name in GROUPS]


def interval_view(interval, value: float | None = None, *, percent: bool = True) -> dict | None:
    """A stored [low, high] as a person reads it: '±7 pts' (the larger side, the interval being
    asymmetric near 0 and 1) and '31–45%'; None when there is no interval."""
    if not interval or len(interval) != 2 or interval[0] is None:
        return None
    low, high = float(interval[0]), float(interval[1])
    scale = 100.0 if percent else 1.0
    centre = float(value) if value is not None else (low + high) / 2
    half = max(centre - low, high - centre) * scale
    if percent:
        return {"low": low, "high": high, "plus_minus": f"±{half:.0f} pts",
                "range": f"{low * 100:.0f}–{high * 100:.0f}%"}
    return {"low": low, "high": high, "plus_minus": f"±{half:.2f}", "range": f"{low:+.2f} to {high:+.2f}"}


# --- The crowd numbers compared side by side (marked moments, the project's analyses) ------------------

# Each number's label, in reading order: groups first, then each expression, then the rest.
METRIC_ROWS = (
    ("positive", "Positive (happy, surprise)"), ("negative", "Negative (angry, disgust, fear, sad)"),
    ("neutral", "Neutral"), ("happy", "Happy"), ("surprise", "Surprise"), ("angry", "Angry"), ("disgust", "Disgust"),
    ("fear", "Fear"), ("sad", "Sad"), ("attention", "Attention: facing the camera"),
    ("valence", "Valence (derived)"), ("arousal", "Arousal (derived)"),
)
METRIC_LABELS = dict(METRIC_ROWS)
# Shares (0-1, read as percentages); valence and arousal run from -1 to 1.
SCALE_METRICS = ("valence", "arousal")


def metric_number(metric: str, value: float | None) -> str:
    """'45%' for a share or attention, '+0.32' for valence or arousal, '–' for none."""
    if value is None:
        return "–"
    return f"{value:+.2f}" if metric in SCALE_METRICS else f"{value * 100:.0f}%"


def metric_difference(metric: str, value: float | None) -> str:
    """'+33 pts' for shares, '+0.21' for valence or arousal."""
    if value is None:
        return "–"
    return f"{value:+.2f}" if metric in SCALE_METRICS else f"{value * 100:+.0f} pts"


def statistic_cell(metric: str, estimate: dict, *, pose_observations: int | None = None) -> dict:
    """One number of a group's statistics ({value, interval, tracks}) as a table cell; attention
    without any head pose (the Haar detector) is "not available", not 0%."""
    if metric == "attention" and not pose_observations:
        return {"text": "not available", "value": None, "interval": None, "unavailable": True}
    return {"text": metric_number(metric, estimate["value"]), "value": estimate["value"],
            "interval": interval_view(estimate["interval"], estimate["value"], percent=metric not in SCALE_METRICS),
            "unavailable": False}
