"""Crowd statistics over people, not frames: bootstrap intervals and a permutation test over face tracks.

One person seen in 40 sampled frames is one sample, not 40: their 40 observations are as alike as
the frames are close. A bootstrap that resampled observations would shrink an interval by sqrt(5)
just because the footage was sampled five times as often, and promise a certainty no one has. So
every crowd number here is a ratio of sums over face tracks (the same ratio the reports show, e.g.
happy observations / observations), and its uncertainty comes from resampling *tracks* with
replacement (the cluster bootstrap: Davison & Hinkley 1997, Bootstrap Methods and their
Application, section 3.8). A track is the unit because tracks are what the footage can tell apart; a
person who leaves and comes back is two tracks, which makes the intervals slightly too narrow, never
the frame-level 2x.

The interval is the bias-corrected and accelerated (BCa) percentile interval (Efron 1987, "Better
bootstrap confidence intervals", JASA 82(397); the acceleration from a jackknife over tracks), with
its nominal tails expanded for small samples as Hesterberg proposes for the percentile interval
(2015, "What teachers should know about the bootstrap", The American Statistician 69(4): read at
Phi(sqrt(n/(n-1)) t_{alpha/2, n-1}) instead of alpha/2). Simulated crowds of 20-80 tracks (see
tests/ml/engine/test_statistics.py) need both: the plain percentile interval covered 89-93% of
skewed (small) shares, this one 93-95%. With fewer than MIN_TRACKS tracks there is no interval at
all: the report says "too few tracks" instead of drawing a narrow band around one or two faces.

When every track agrees on a share (nobody looked afraid, or everybody faced the camera), every
resample gives the same 0 or 1 and the bootstrap would promise "0-0%". Such a share gets the exact
binomial bound over its n tracks instead, [0, 1 - alpha^(1/n)]: the exact one-sided bound at 0
successes (about 3/n, the "rule of three": Hanley & Lippman-Hand 1983, JAMA 249(13)). A share of 0 has
no lower tail to spend alpha on, so this covers the true share whenever the procedure is >= 95% sure
(it fails only when p > 1 - alpha^(1/n), where seeing no one has probability (1-p)^n < alpha).
Nobody afraid among 10 people reads 0-26%, not 0-0%.

Everything is seeded (finalizing twice gives the same numbers) and vectorised: resample counts come
from one `bincount` per chunk of resamples, the resampled sums from one matrix product.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 14
# Fewer tracks than this: no interval ("too few tracks to say anything").
MIN_TRACKS = 5
# Resample-count matrices are built in chunks of at most this many cells (8 bytes each: 32 MB).
_CELLS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class TrackTotals:
    """Per-track sums of each quantity and how many observations contributed to each: (tracks, columns)."""

    sums: np.ndarray
    counts: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.sums.shape[0])

    @property
    def n_tracks(self) -> np.ndarray:
        """Per column, the tracks with at least one observation of it."""
        return (self.counts > 0).sum(axis=0)

    def ratio(self) -> np.ndarray:
        """The point estimate: sum over tracks / count over tracks, per column (NaN when nothing counted)."""
        total = self.counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.sums.sum(axis=0) / np.where(total > 0, total, 1), np.nan)


@dataclass(frozen=True)
class Estimate:
    """A crowd number with its interval; `low`/`high` are None when there were too few tracks."""

    value: float | None
    low: float | None
    high: float | None
    n_tracks: int

    @property
    def enough_tracks(self) -> bool:
        return self.low is not None

    def as_dict(self, digits: int = 4) -> dict:
        def r(v):
            return None if v is None else round(float(v), digits)
        return {"value": r(self.value), "interval": None if self.low is None else [r(self.low), r(self.high)],
                "tracks": int(self.n_tracks)}


def track_totals(track_ids, values, valid=None) -> TrackTotals:
    """Sum `values` (N,) or (N, m) per track. `valid` (same shape, bool) says which values count;
    by default every finite value does (NaN marks "not available", e.g. no head pose)."""
    ids = np.asarray(track_ids)
    vals = np.asarray(values, np.float64)
    if vals.ndim == 1:
        vals = vals[:, None]
    mask = np.isfinite(vals) if valid is None else (np.asarray(valid, bool).reshape(vals.shape) & np.isfinite(vals))
    if len(ids) == 0:
        return TrackTotals(np.zeros((0, vals.shape[1])), np.zeros((0, vals.shape[1])))
    _, unit = np.unique(ids, return_inverse=True)
    k = int(unit.max()) + 1
    clean = np.where(mask, vals, 0.0)
    sums = np.stack([np.bincount(unit, weights=clean[:, j], minlength=k) for j in range(vals.shape[1])], axis=1)
    counts = np.stack([np.bincount(unit, weights=mask[:, j].astype(np.float64), minlength=k)
                       for j in range(vals.shape[1])], axis=1)
    return TrackTotals(sums, counts)


def resample_counts(n_units: int, n_resamples: int, rng: np.random.Generator):
    """How often each unit is drawn in each resample (n units drawn with replacement), in chunks of
    (resamples, units) integer arrays."""
    chunk = max(1, _CELLS_PER_CHUNK // max(1, n_units))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        draws = rng.integers(0, n_units, size=(b, n_units))
        draws += (np.arange(b) * n_units)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n_units).reshape(b, n_units)


def bootstrap_ratios(totals: TrackTotals, *, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n_resamples, columns): the ratio of sums in each resample of the tracks (NaN where a resample
    drew no track that counted for that column)."""
    rng = np.random.default_rng(seed)
    out = []
    for weights in resample_counts(totals.n_units, n_resamples, rng):
        w = weights.astype(np.float64)
        num, den = w @ totals.sums, w @ totals.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
    return np.concatenate(out, axis=0) if out else np.zeros((0, totals.sums.shape[1]))


def tail_probability(n_units: int, level: float = DEFAULT_LEVEL) -> float:
    """The nominal lower tail, expanded for `n_units` tracks (Hesterberg 2015): Phi(sqrt(n/(n-1)) t)."""
    alpha = 1.0 - level
    if n_units < 2:
        return alpha / 2
    t = stats.t.ppf(alpha / 2, n_units - 1)
    return float(stats.norm.cdf(math.sqrt(n_units / (n_units - 1)) * t))


def _bca_tails(draws: np.ndarray, estimate: float, sums: np.ndarray, counts: np.ndarray,
               level: float) -> tuple[float, float]:
    """The quantiles of `draws` that bound a BCa interval (Efron 1987): bias-corrected by where the
    estimate falls among the draws, accelerated by the skew of the leave-one-track-out ratios."""
    used = counts > 0
    s, c = sums[used], counts[used]
    n = len(s)
    jack = (s.sum() - s) / np.where(c.sum() - c > 0, c.sum() - c, np.nan)
    jack = jack[np.isfinite(jack)]
    spread = jack.mean() - jack if len(jack) else np.zeros(0)
    denom = 6.0 * float((spread ** 2).sum()) ** 1.5
    acceleration = float((spread ** 3).sum()) / denom if denom > 0 else 0.0
    below = (np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / len(draws)
    below = min(max(below, 1.0 / len(draws)), 1.0 - 1.0 / len(draws))
    z0 = float(stats.norm.ppf(below))
    q = tail_probability(n, level)
    tails = []
    for z in stats.norm.ppf([q, 1.0 - q]):
        shifted = z0 + z
        tails.append(float(stats.norm.cdf(z0 + shifted / (1.0 - acceleration * shifted))))
    return tails[0], tails[1]


def unanimous_share_bound(n_tracks: int, level: float = DEFAULT_LEVEL) -> float:
    """The exact upper bound on a share that none of `n_tracks` independent tracks showed (one-sided at
    0 successes, the rule of three): 1 - alpha^(1/n)."""
    return 1.0 - (1.0 - level) ** (1.0 / max(1, n_tracks))


def ratio_estimates(totals: TrackTotals, *, n_resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                    seed: int = DEFAULT_SEED, min_tracks: int = MIN_TRACKS,
                    proportions: Sequence[bool] | None = None) -> list[Estimate]:
    """Each column's ratio over all tracks, with its bootstrap interval over tracks (None with fewer
    than `min_tracks` tracks counting for that column). `proportions` says which columns are shares of
    0/1 values (all of them by default); a share on which every track agrees gets the exact binomial
    bound (`unanimous_share_bound`) instead of the bootstrap's empty "0-0%"."""
    values = totals.ratio()
    proportions = [True] * values.shape[0] if proportions is None else list(proportions)
    n_tracks = totals.n_tracks
    columns = values.shape[0]
    bounds: dict[int, tuple[float, float]] = {}
    enough = np.flatnonzero(n_tracks >= min_tracks)
    if len(enough):
        draws = bootstrap_ratios(totals, n_resamples=n_resamples, seed=seed)
        for j in enough:
            column = draws[:, j][np.isfinite(draws[:, j])]
            if len(column):
                tails = _bca_tails(column, float(values[j]), totals.sums[:, j], totals.counts[:, j], level)
                low, high = np.quantile(column, tails)
                # The estimate always lies in its interval (a skewed resample cannot move it out).
                bounds[int(j)] = (min(float(low), float(values[j])), max(float(high), float(values[j])))
            if proportions[j] and values[j] in (0.0, 1.0):
                margin = unanimous_share_bound(int(n_tracks[j]), level)
                bounds[int(j)] = (0.0, margin) if values[j] == 0.0 else (1.0 - margin, 1.0)
    return [Estimate(value=None if not np.isfinite(values[j]) else float(values[j]),
                     low=bounds[j][0] if j in bounds else None, high=bounds[j][1] if j in bounds else None,
                     n_tracks=int(n_tracks[j])) for j in range(columns)]


def difference_estimate(totals: TrackTotals, first: int, second: int, *, n_resamples: int = DEFAULT_RESAMPLES,
                        level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED,
                        min_tracks: int = MIN_TRACKS) -> Estimate:
    """ratio[second] - ratio[first] (e.g. the late half's mean valence minus the early half's) with an
    expanded percentile interval over tracks; the same resamples serve both columns, so a track seen
    in both halves moves both ratios together."""
    values = totals.ratio()
    n_tracks = int(min(totals.n_tracks[first], totals.n_tracks[second]))
    value = float(values[second] - values[first]) if np.isfinite(values[[first, second]]).all() else None
    if value is None or n_tracks < min_tracks:
        return Estimate(value=value, low=None, high=None, n_tracks=n_tracks)
    draws = bootstrap_ratios(totals, n_resamples=n_resamples, seed=seed)
    diff = draws[:, second] - draws[:, first]
    diff = diff[np.isfinite(diff)]
    q = tail_probability(n_tracks, level)
    low, high = np.quantile(diff, [q, 1.0 - q])
    return Estimate(value=value, low=min(float(low), value), high=max(float(high), value), n_tracks=n_tracks)


def share_estimate(track_ids, hits, *, n_resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                   seed: int = DEFAULT_SEED, min_tracks: int = MIN_TRACKS) -> Estimate:
    """The share of observations that are hits (e.g. happy), with its interval over tracks. A frame-level
    bootstrap is this with every observation its own track: `share_estimate(np.arange(n), hits)`."""
    totals = track_totals(track_ids, np.asarray(hits, np.float64))
    return ratio_estimates(totals, n_resamples=n_resamples, level=level, seed=seed, min_tracks=min_tracks)[0]


def permutation_test(first: TrackTotals, second: TrackTotals, *, column: int = 0,
                     n_permutations: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> dict:
    """Do two groups of tracks (two moments, two analyses) differ in one column's ratio?

    Two-sided test of "the group labels are exchangeable between tracks": the difference of the two
    ratios is compared with the differences after shuffling which tracks belong to which group. The
    p-value counts the observed labelling as one of the permutations ((hits + 1) / (n + 1)), so it is
    never 0 and the test rejects at most at its stated rate under the null. Tracks are the units, so a
    face seen in many frames weighs as in the ratio but is moved as one piece."""
    sums = np.concatenate([first.sums[:, column], second.sums[:, column]])
    counts = np.concatenate([first.counts[:, column], second.counts[:, column]])
    keep = counts > 0
    sums, counts = sums[keep], counts[keep]
    n_first = int((first.counts[:, column] > 0).sum())
    n_total = len(sums)
    observed = _ratio_difference(sums[:n_first], counts[:n_first], sums[n_first:], counts[n_first:])
    if n_first == 0 or n_first == n_total or not np.isfinite(observed):
        return {"difference": None, "p_value": None, "tracks": [n_first, n_total - n_first]}
    rng = np.random.default_rng(seed)
    exceed = 0
    chunk = max(1, _CELLS_PER_CHUNK // n_total)
    total_sum, total_count = sums.sum(), counts.sum()
    for start in range(0, n_permutations, chunk):
        b = min(chunk, n_permutations - start)
        # A random subset of n_first tracks per row: the n_first smallest of uniform keys.
        keys = rng.random((b, n_total))
        in_first = keys <= np.partition(keys, n_first - 1, axis=1)[:, n_first - 1:n_first]
        s1, c1 = in_first @ sums, in_first @ counts
        diff = s1 / c1 - (total_sum - s1) / (total_count - c1)
        exceed += int((np.abs(diff) >= abs(observed) - 1e-12).sum())
    return {"difference": float(observed), "p_value": (exceed + 1) / (n_permutations + 1),
            "tracks": [n_first, n_total - n_first]}


def _ratio_difference(s1, c1, s2, c2) -> float:
    if c1.sum() <= 0 or c2.sum() <= 0:
        return float("nan")
    return float(s1.sum() / c1.sum() - s2.sum() / c2.sum())
