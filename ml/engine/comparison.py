"""Groups of face tracks side by side: the moments a user marked in one footage ("Opening act",
"Q&A"), or the analyses of a project, each with the crowd statistics of `ml.engine.crowd`, and the
differences between two groups that are clear enough to flag.

Each group's numbers are the crowd columns finalize aggregates (`crowd.crowd_columns`: each
expression's and group's share of the observations, attention, derived valence and arousal), each a
ratio of sums over the group's face tracks with its 95% interval from the bootstrap over tracks
(`ml.engine.statistics`). Within a group, a person seen in many frames is one sample.

A difference between two groups is flagged only when both hold:
- the two 95% intervals separate (they do not overlap), and
- the permutation test over tracks (`statistics.permutation_test`, two-sided) rejects "no difference"
  at 5%.
A reader sees the intervals beside each other, so nothing is called different where they overlap;
the test keeps separated intervals from standing in for a test. Two separated 95% intervals already
mean roughly p < 0.006 for independent groups, so the flag is conservative: in 200 simulated pairs of
20-track groups drawn from one crowd the test alone rejected 3% and nothing was flagged
(tests/ml/engine/test_comparison.py checks 100 such pairs). Twelve numbers are compared per pair, so a reader should still
expect an occasional flag by chance among many moments. The p-value of every number is returned beside
the flag.

Tracks are the units of the test, as they are of the bootstrap. Two moments of one footage can share a track (a
person in view during both): that track's observations in each moment are two units, one per group,
so the test is exact for disjoint groups (analyses of different footage, moments no one spans) and
approximate where people span both.

Plain numpy and the engine; seeded, so the same observations always give the same intervals and
p-values, and a group's numbers do not depend on which other groups are compared with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .crowd import POSE_FIELDS, SHARE_GROUPS, crowd_columns, proportion_columns
from .labels import EMOTIONS
from .statistics import (DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_TRACKS, Estimate, TrackTotals,
                         permutation_test, ratio_estimates, track_totals)
from .timeline import observation_columns

# A difference is flagged only where the permutation test rejects at this level (and the intervals separate).
ALPHA = 0.05
# The crowd numbers that are not shares of expressions; "attention" is NaN for observations without a head pose.
OTHER_COLUMNS = ("attention", "valence", "arousal")


def compared_names(labels: Sequence[str] = EMOTIONS) -> list[str]:
    """The numbers every group gets, in `crowd_columns` order: each expression's share, each group's
    share (positive, negative), attention, valence, arousal."""
    return [*labels, *SHARE_GROUPS, *OTHER_COLUMNS]


@dataclass(frozen=True)
class CrowdValues:
    """Every observation's time, track and crowd columns (`crowd_columns`), read once."""

    ts: np.ndarray
    tracks: np.ndarray
    names: list[str]
    values: np.ndarray

    def totals(self, t_start: float | None = None, t_end: float | None = None) -> TrackTotals:
        """Per-track totals of the observations with t_start <= t < t_end (all of them by default)."""
        inside = np.ones(len(self.ts), bool)
        if t_start is not None:
            inside &= self.ts >= t_start
        if t_end is not None:
            inside &= self.ts < t_end
        return track_totals(self.tracks[inside], self.values[inside])


def crowd_values(observations: Iterable, labels: Sequence[str] = EMOTIONS) -> CrowdValues:
    """Read observations (any kind `timeline.observation_columns` reads; `yaw`/`pitch` None or missing:
    no head pose) into the crowd columns."""
    labels = list(labels)
    ts, tracks, probs, pose = observation_columns(observations, labels, POSE_FIELDS)
    names, values = crowd_columns(probs, pose, labels)
    return CrowdValues(np.asarray(ts, np.float64), np.asarray(tracks, np.int64), names, values)


def group_statistics(totals: TrackTotals, names: Sequence[str], *, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = DEFAULT_SEED) -> dict:
    """One group's numbers, each {value, interval, tracks}: `shares` (expressions and groups),
    `attention` (with `observations_with_pose`), `valence`, `arousal`; `too_few_tracks` when the group
    has fewer than MIN_TRACKS tracks (no intervals at all)."""
    names = list(names)
    if totals.n_units:
        estimates = ratio_estimates(totals, n_resamples=n_resamples, seed=seed,
                                    proportions=proportion_columns(names))
    else:
        estimates = [Estimate(None, None, None, 0)] * len(names)
    by_name = {name: estimate.as_dict() for name, estimate in zip(names, estimates)}
    statistics = {
        "tracks": int(totals.n_units),
        "observations": int(totals.counts[:, 0].sum()) if totals.n_units else 0,
        "too_few_tracks": int(totals.n_units) < MIN_TRACKS,
        "shares": {name: by_name[name] for name in names if name not in OTHER_COLUMNS},
        **{name: by_name[name] for name in OTHER_COLUMNS if name in by_name},
    }
    if "attention" in by_name:
        with_pose = totals.counts[:, names.index("attention")].sum() if totals.n_units else 0
        statistics["attention"] = {**by_name["attention"], "observations_with_pose": int(with_pose)}
    return statistics


def estimate_of(statistics: dict, name: str) -> dict:
    """The {value, interval, tracks} of one number in `group_statistics`' answer."""
    return statistics[name] if name in OTHER_COLUMNS else statistics["shares"][name]


def intervals_separate(first: list | None, second: list | None) -> bool:
    """True when both intervals exist and do not overlap."""
    if not first or not second:
        return False
    return first[1] < second[0] or second[1] < first[0]


def compare_pair(first: TrackTotals, second: TrackTotals, first_stats: dict, second_stats: dict,
                 names: Sequence[str], *, alpha: float = ALPHA, n_permutations: int = DEFAULT_RESAMPLES,
                 seed: int = DEFAULT_SEED) -> list[dict]:
    """Per number: `difference` (second - first), the permutation test's two-sided `p_value` (None
    when either group has no track counting for it), whether the 95% intervals `separated`, and
    `flagged` (separated and p < alpha)."""
    out = []
    for column, name in enumerate(names):
        a, b = estimate_of(first_stats, name), estimate_of(second_stats, name)
        test = permutation_test(first, second, column=column, n_permutations=n_permutations, seed=seed) \
            if first.n_units and second.n_units else {"difference": None, "p_value": None}
        difference = None if a["value"] is None or b["value"] is None else round(b["value"] - a["value"], 4)
        p_value = None if test["p_value"] is None else round(float(test["p_value"]), 4)
        separated = intervals_separate(a["interval"], b["interval"])
        out.append({"metric": name, "difference": difference, "p_value": p_value, "separated": separated,
                    "flagged": bool(separated and p_value is not None and p_value < alpha)})
    return out


def compare_groups(groups: Sequence[TrackTotals], names: Sequence[str], *,
                   pairs: Sequence[tuple[int, int]] | None = None, alpha: float = ALPHA,
                   n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> dict:
    """Every group's statistics, and for each pair (i, j) (every pair i < j by default) each number's
    difference (group j - group i) with its test and flag.

    Returns {"names", "groups": [group_statistics per group], "differences": [{"first": i,
    "second": j, "metrics": [...], "flagged": [names flagged]}], "method": {...}}."""
    names = list(names)
    stats = [group_statistics(g, names, n_resamples=n_resamples, seed=seed) for g in groups]
    if pairs is None:
        pairs = [(i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))]
    differences = []
    for i, j in pairs:
        metrics = compare_pair(groups[i], groups[j], stats[i], stats[j], names, alpha=alpha,
                               n_permutations=n_resamples, seed=seed)
        differences.append({"first": i, "second": j, "metrics": metrics,
                            "flagged": [m["metric"] for m in metrics if m["flagged"]]})
    return {"names": names, "groups": stats, "differences": differences,
            "method": {"resamples": n_resamples, "permutations": n_resamples, "level": DEFAULT_LEVEL,
                       "alpha": alpha, "unit": "face track", "min_tracks": MIN_TRACKS, "seed": seed}}


def compare_time_ranges(observations: Iterable, ranges: Sequence[tuple[float, float]],
                        labels: Sequence[str] = EMOTIONS, *, n_resamples: int = DEFAULT_RESAMPLES,
                        seed: int = DEFAULT_SEED) -> dict:
    """`compare_groups` over time ranges [t_start, t_end) of one footage's observations (its moments)."""
    values = crowd_values(observations, labels)
    groups = [values.totals(t_start, t_end) for t_start, t_end in ranges]
    return compare_groups(groups, values.names, n_resamples=n_resamples, seed=seed)
