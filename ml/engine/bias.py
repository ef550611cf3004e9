"""Bias metrics: how a model's behaviour differs between groups of people.

Given predictions (and, for labelled audit sets, true labels) plus per-image group attributes
(e.g. gender, age band, source dataset), `audit` reports per attribute and per group:

- `n`, `accuracy` and `per_class_recall` (labelled sets only),
- `predicted_shares`: how often the model predicts each emotion for that group,

and per attribute the gaps between groups:

- `max_accuracy_gap` (best minus worst group accuracy) and `min_max_ratio` (worst / best),
- `per_class_recall_gap` (per emotion, best minus worst recall),
- `parity_difference`: demographic parity difference of predicted shares per emotion
  (largest minus smallest share across groups) — the only measure an unlabelled set allows:
  "does the model call one group angry more often than another?".

Gaps above the thresholds become `flags`. Parity differences are flagged only for unlabelled
audits: on a labelled set the groups' true emotion mix may differ, so a share difference there is
not by itself a fault, while accuracy and recall gaps are. Groups smaller than `min_group_size`
(and the group "unknown") are reported but left out of the comparisons: a gap between a handful
of images is noise. Every flag carries a two-proportion z-test p-value so a reader can tell a gap
that sampling alone would easily produce from one it would not.

Plain Python + NumPy: no Django import.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from .labels import EMOTIONS

UNKNOWN_GROUPS = frozenset({"", "unknown", "nan", "none"})


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion (sane for small n and for 0% or 100%)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value of the z-test that two proportions are equal (None when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0 if k1 / n1 == k2 / n2 else 0.0
    z = abs(k1 / n1 - k2 / n2) / math.sqrt(var)
    return math.erfc(z / math.sqrt(2))


def _group_metrics(y_pred: np.ndarray, y_true: np.ndarray | None, labels: Sequence[str]) -> dict:
    n = int(y_pred.size)
    k = len(labels)
    pred_counts = np.bincount(y_pred, minlength=k)[:k]
    out: dict = {
        "n": n,
        "predicted_counts": {label: int(pred_counts[i]) for i, label in enumerate(labels)},
        "predicted_shares": {label: _round(pred_counts[i] / n) if n else 0.0 for i, label in enumerate(labels)},
        "accuracy": None,
        "accuracy_ci95": None,
        "correct": None,
        "per_class_recall": {label: None for label in labels},
        "per_class_support": {label: 0 for label in labels},
    }
    if y_true is not None and n:
        correct = int((y_pred == y_true).sum())
        out["correct"] = correct
        out["accuracy"] = _round(correct / n)
        ci = wilson_interval(correct, n)
        out["accuracy_ci95"] = [_round(ci[0]), _round(ci[1])] if ci else None
        for i, label in enumerate(labels):
            mask = y_true == i
            support = int(mask.sum())
            out["per_class_support"][label] = support
            out["per_class_recall"][label] = _round((y_pred[mask] == i).mean()) if support else None
    return out


def _spread(values: Mapping[str, float | None]) -> tuple[float | None, str | None, str | None]:
    """(max - min, group with the min, group with the max) over groups with a value."""
    present = {g: v for g, v in values.items() if v is not None}
    if len(present) < 2:
        return None, None, None
    lo = min(present, key=present.get)
    hi = max(present, key=present.get)
    return present[hi] - present[lo], lo, hi


def audit(y_pred, groups: Mapping[str, Sequence[str]], y_true=None, labels: Sequence[str] = EMOTIONS,
          gap_threshold: float = 0.10, ratio_threshold: float = 0.8, min_group_size: int = 20,
          min_class_support: int = 10, attributes: Iterable[str] | None = None) -> dict:
    """Per-group metrics and the gaps between groups, with flags above the thresholds.

    `y_pred` (and `y_true`, when the set is labelled) are class indices into `labels`; entries of
    `y_true` below 0 mean "no label". `groups` maps an attribute to one group value per image.
    """
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    labels = list(labels)
    n = int(y_pred.size)
    if y_true is not None:
        y_true = np.asarray(y_true, dtype=np.int64).ravel()
        if y_true.size != n:
            raise ValueError(f"y_true has {y_true.size} entries but y_pred has {n}")
        if not (y_true >= 0).any():
            y_true = None  # a manifest with an empty label column: an unlabelled audit
    if n and (y_pred.min() < 0 or y_pred.max() >= len(labels)):
        raise ValueError(f"Predictions must be class indices 0..{len(labels) - 1}")
    attrs = list(attributes) if attributes is not None else list(groups)
    for attr in attrs:
        if attr not in groups:
            known = ", ".join(groups) or "none"
            raise ValueError(f"Unknown attribute {attr!r}; this set has: {known}")
        if len(groups[attr]) != n:
            raise ValueError(f"Attribute {attr!r} has {len(groups[attr])} values for {n} predictions")
    if not attrs:
        raise ValueError("A bias audit needs at least one group attribute (e.g. gender, age_band)")

    labelled = y_true is not None
    # Images without a label cannot count towards accuracy; keep them for the parity of predictions.
    has_label = (y_true >= 0) if labelled else np.zeros(n, bool)

    def metrics_for(mask: np.ndarray) -> dict:
        m = _group_metrics(y_pred[mask], None, labels)
        if labelled:
            lm = mask & has_label
            m_l = _group_metrics(y_pred[lm], y_true[lm], labels)
            for key in ("accuracy", "accuracy_ci95", "correct", "per_class_recall", "per_class_support"):
                m[key] = m_l[key]
            m["n_labelled"] = int(lm.sum())
        return m

    result: dict = {
        "labelled": labelled,
        "n": n,
        "labels": labels,
        "gap_threshold": gap_threshold,
        "ratio_threshold": ratio_threshold,
        "min_group_size": min_group_size,
        "min_class_support": min_class_support,
        "overall": metrics_for(np.ones(n, bool)),
        "attributes": {},
    }
    all_flags: list[dict] = []
    for attr in attrs:
        values = np.asarray([str(v).strip() for v in groups[attr]], dtype=object)
        group_names = sorted(set(values.tolist()))
        per_group = {g: metrics_for(values == g) for g in group_names}
        compared = [g for g in group_names
                    if g.lower() not in UNKNOWN_GROUPS
                    and (per_group[g].get("n_labelled", per_group[g]["n"]) if labelled else per_group[g]["n"])
                    >= min_group_size]
        excluded = [g for g in group_names if g not in compared]
        flags: list[dict] = []
        entry: dict = {"groups": per_group, "compared_groups": compared, "excluded_groups": excluded,
                       "max_accuracy_gap": None, "min_max_ratio": None, "worst_group": None, "best_group": None,
                       "per_class_recall_gap": {}, "parity_difference": {}, "max_parity_difference": None,
                       "max_parity_label": None}

        if labelled:
            gap, worst, best = _spread({g: per_group[g]["accuracy"] for g in compared})
            if gap is not None:
                best_acc, worst_acc = per_group[best]["accuracy"], per_group[worst]["accuracy"]
                ratio = worst_acc / best_acc if best_acc else None
                p = two_proportion_p_value(per_group[worst]["correct"], per_group[worst]["n_labelled"],
                                           per_group[best]["correct"], per_group[best]["n_labelled"])
                entry.update(max_accuracy_gap=_round(gap), min_max_ratio=_round(ratio),
                             worst_group=worst, best_group=best)
                if gap > gap_threshold:
                    flags.append(_flag(attr, "accuracy_gap", gap, gap_threshold, worst, best, p, None,
                                       f"{attr}: accuracy is {worst_acc:.0%} for {worst} but {best_acc:.0%} for "
                                       f"{best} (gap {gap:.0%} > {gap_threshold:.0%})"))
                if ratio is not None and ratio < ratio_threshold:
                    flags.append(_flag(attr, "accuracy_ratio", ratio, ratio_threshold, worst, best, p, None,
                                       f"{attr}: worst/best accuracy ratio {ratio:.2f} ({worst} vs {best}) "
                                       f"is below {ratio_threshold:.2f}"))
            for i, label in enumerate(labels):
                eligible = {g: per_group[g]["per_class_recall"][label] for g in compared
                            if per_group[g]["per_class_support"][label] >= min_class_support}
                rgap, rworst, rbest = _spread(eligible)
                if rgap is None:
                    continue
                entry["per_class_recall_gap"][label] = _round(rgap)
                if rgap > gap_threshold:
                    sw, sb = per_group[rworst]["per_class_support"][label], per_group[rbest]["per_class_support"][label]
                    p = two_proportion_p_value(round(eligible[rworst] * sw), sw, round(eligible[rbest] * sb), sb)
                    flags.append(_flag(attr, "recall_gap", rgap, gap_threshold, rworst, rbest, p, label,
                                       f"{attr}: {label} recall is {eligible[rworst]:.0%} for {rworst} but "
                                       f"{eligible[rbest]:.0%} for {rbest} (gap {rgap:.0%})"))

        max_parity, max_parity_label = None, None
        for i, label in enumerate(labels):
            shares = {g: per_group[g]["predicted_shares"][label] for g in compared}
            pgap, plo, phi = _spread(shares)
            if pgap is None:
                continue
            entry["parity_difference"][label] = _round(pgap)
            if max_parity is None or pgap > max_parity:
                max_parity, max_parity_label = pgap, label
            if not labelled and pgap > gap_threshold:
                nlo, nhi = per_group[plo]["n"], per_group[phi]["n"]
                p = two_proportion_p_value(per_group[plo]["predicted_counts"][label], nlo,
                                           per_group[phi]["predicted_counts"][label], nhi)
                flags.append(_flag(attr, "parity_difference", pgap, gap_threshold, plo, phi, p, label,
                                   f"{attr}: the model predicts {label} for {shares[phi]:.0%} of {phi} but "
                                   f"{shares[plo]:.0%} of {plo} (difference {pgap:.0%} > {gap_threshold:.0%})"))
        entry["max_parity_difference"] = _round(max_parity)
        entry["max_parity_label"] = max_parity_label
        entry["flags"] = flags
        result["attributes"][attr] = entry
        all_flags.extend(flags)

    gaps = [a["max_accuracy_gap"] for a in result["attributes"].values() if a["max_accuracy_gap"] is not None]
    ratios = [a["min_max_ratio"] for a in result["attributes"].values() if a["min_max_ratio"] is not None]
    parities = [a["max_parity_difference"] for a in result["attributes"].values()
                if a["max_parity_difference"] is not None]
    result["max_accuracy_gap"] = max(gaps) if gaps else None
    result["min_max_ratio"] = min(ratios) if ratios else None
    result["max_parity_difference"] = max(parities) if parities else None
    result["flags"] = all_flags
    result["verdict"] = "flagged" if all_flags else "pass"
    return result


def _flag(attribute: str, metric: str, value: float, threshold: float, worst: str, best: str,
          p_value: float | None, label: str | None, message: str) -> dict:
    return {"attribute": attribute, "metric": metric, "label": label, "value": _round(value),
            "threshold": threshold, "groups": [worst, best],
            "p_value": _round(p_value), "significant": bool(p_value is not None and p_value < 0.05),
            "message": message}
