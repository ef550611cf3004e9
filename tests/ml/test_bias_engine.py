"""ml.engine.bias on synthetic arrays whose answers are known by construction."""
import numpy as np
import pytest

from ml.engine.bias import audit, two_proportion_p_value, wilson_interval
from ml.engine.labels import EMOTIONS

ANGRY, HAPPY, SAD, NEUTRAL = (EMOTIONS.index(x) for x in ("angry", "happy", "sad", "neutral"))


def _labelled_set():
    """Group a: 100 images, 90 right; group b: 100 images, 60 right. Half happy, half sad in each."""
    y_true = np.array([HAPPY] * 50 + [SAD] * 50 + [HAPPY] * 50 + [SAD] * 50)
    y_pred = y_true.copy()
    # a: 5 happy wrong, 5 sad wrong -> 90% ; b: 10 happy wrong, 30 sad wrong -> 60%
    y_pred[0:5] = NEUTRAL
    y_pred[50:55] = NEUTRAL
    y_pred[100:110] = NEUTRAL
    y_pred[150:180] = ANGRY
    groups = {"gender": ["a"] * 100 + ["b"] * 100}
    return y_true, y_pred, groups


def test_labelled_audit_per_group_accuracy_recall_gap_and_ratio():
    y_true, y_pred, groups = _labelled_set()
    r = audit(y_pred, groups, y_true=y_true)
    g = r["attributes"]["gender"]
    assert r["labelled"] is True and r["n"] == 200
    assert g["groups"]["a"]["n"] == 100 and g["groups"]["a"]["accuracy"] == pytest.approx(0.90)
    assert g["groups"]["b"]["accuracy"] == pytest.approx(0.60)
    assert g["groups"]["a"]["per_class_recall"]["happy"] == pytest.approx(0.90)
    assert g["groups"]["b"]["per_class_recall"]["sad"] == pytest.approx(0.40)
    assert g["groups"]["b"]["per_class_recall"]["fear"] is None  # no fear images: no recall, not 0
    assert g["max_accuracy_gap"] == pytest.approx(0.30)
    assert g["min_max_ratio"] == pytest.approx(0.60 / 0.90, abs=1e-4)
    assert (g["worst_group"], g["best_group"]) == ("b", "a")
    assert g["per_class_recall_gap"]["sad"] == pytest.approx(0.50)
    assert g["per_class_recall_gap"]["happy"] == pytest.approx(0.10)
    assert r["max_accuracy_gap"] == pytest.approx(0.30) and r["min_max_ratio"] == pytest.approx(0.6667, abs=1e-4)
    metrics = {(f["metric"], f["label"]) for f in r["flags"]}
    # gap 0.30 > 0.10, ratio 0.67 < 0.8, sad recall gap 0.5; happy gap 0.10 is not *above* 0.10
    assert metrics == {("accuracy_gap", None), ("accuracy_ratio", None), ("recall_gap", "sad")}
    assert r["verdict"] == "flagged"
    assert all(f["significant"] for f in r["flags"])
    # Parity is measured on labelled sets too, but not flagged there (the true mix may differ).
    assert g["parity_difference"]["angry"] == pytest.approx(0.30)
    assert not any(f["metric"] == "parity_difference" for f in r["flags"])


def test_thresholds_are_configurable():
    y_true, y_pred, groups = _labelled_set()
    r = audit(y_pred, groups, y_true=y_true, gap_threshold=0.6, ratio_threshold=0.5)
    assert r["flags"] == [] and r["verdict"] == "pass"
    assert r["max_accuracy_gap"] == pytest.approx(0.30)  # measured all the same


def test_unlabelled_audit_flags_predicted_share_parity():
    # 80 images per group; the model calls 40% of group x angry and 10% of group y.
    y_pred = np.array([ANGRY] * 32 + [NEUTRAL] * 48 + [ANGRY] * 8 + [NEUTRAL] * 72)
    groups = {"race": ["x"] * 80 + ["y"] * 80}
    r = audit(y_pred, groups)
    g = r["attributes"]["race"]
    assert r["labelled"] is False
    assert g["groups"]["x"]["predicted_shares"]["angry"] == pytest.approx(0.40)
    assert g["groups"]["y"]["predicted_shares"]["angry"] == pytest.approx(0.10)
    assert g["groups"]["x"]["accuracy"] is None and g["max_accuracy_gap"] is None
    assert g["parity_difference"]["angry"] == pytest.approx(0.30)
    assert g["parity_difference"]["neutral"] == pytest.approx(0.30)
    assert g["max_parity_difference"] == pytest.approx(0.30)
    flagged = sorted(f["label"] for f in r["flags"])
    assert flagged == ["angry", "neutral"] and r["verdict"] == "flagged"
    angry = next(f for f in r["flags"] if f["label"] == "angry")
    assert angry["groups"] == ["y", "x"] and angry["significant"]


def test_labels_column_all_empty_means_unlabelled():
    y_pred = np.array([HAPPY] * 40)
    r = audit(y_pred, {"gender": ["f"] * 20 + ["m"] * 20}, y_true=np.full(40, -1))
    assert r["labelled"] is False and r["verdict"] == "pass"
    assert r["attributes"]["gender"]["parity_difference"]["happy"] == 0.0


def test_small_and_unknown_groups_are_reported_but_not_compared():
    y_true = np.array([HAPPY] * 60)
    y_pred = y_true.copy()
    y_pred[50:55] = SAD  # the 5-image group "tiny" is all wrong, the 5 "unknown" ones right
    groups = {"age_band": ["20-29"] * 25 + ["30-39"] * 25 + ["tiny"] * 5 + ["unknown"] * 5}
    r = audit(y_pred, groups, y_true=y_true, min_group_size=20)
    g = r["attributes"]["age_band"]
    assert g["groups"]["tiny"]["accuracy"] == 0.0 and g["groups"]["tiny"]["n"] == 5
    assert g["compared_groups"] == ["20-29", "30-39"]
    assert g["excluded_groups"] == ["tiny", "unknown"]
    assert g["max_accuracy_gap"] == 0.0 and r["verdict"] == "pass"


def test_several_attributes_and_selection():
    y_true, y_pred, groups = _labelled_set()
    groups = {**groups, "source": ["s1", "s2"] * 100}
    r = audit(y_pred, groups, y_true=y_true, attributes=["source"])
    assert list(r["attributes"]) == ["source"]
    r = audit(y_pred, groups, y_true=y_true)
    assert set(r["attributes"]) == {"gender", "source"}
    # alternating sources see the same mix: gender's gap is the worst one
    assert r["max_accuracy_gap"] == pytest.approx(0.30)


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": {"gender": ["a"] * 3}, "attributes": ["race"]}, "Unknown attribute 'race'"),
    ({"groups": {"gender": ["a"] * 2}}, "has 2 values for 3 predictions"),
    ({"groups": {}}, "needs at least one group attribute"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audit(np.array([0, 1, 2]), **kwargs)


def test_statistics_helpers():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.2 < hi < 0.35  # never a zero-width interval at 0%
    assert two_proportion_p_value(50, 100, 50, 100) == pytest.approx(1.0)
    assert two_proportion_p_value(90, 100, 60, 100) < 1e-5
    assert two_proportion_p_value(0, 0, 1, 2) is None
