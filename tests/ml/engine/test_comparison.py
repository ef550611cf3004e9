"""Groups of face tracks side by side (ml.engine.comparison): known answers for the flag rule: a clear
crowd difference is flagged, one person seen in many frames is not a crowd, and groups drawn from one
crowd are flagged no more often than the rule promises."""
from __future__ import annotations

import numpy as np
import pytest

from ml.engine.comparison import (compare_groups, compare_pair, compare_time_ranges, compared_names, crowd_values,
                                  group_statistics, intervals_separate)
from ml.engine.labels import EMOTIONS
from ml.engine.statistics import MIN_TRACKS, track_totals

HAPPY, NEUTRAL, SAD = EMOTIONS.index("happy"), EMOTIONS.index("neutral"), EMOTIONS.index("sad")


def observation(t: float, track: int, top: str, *, p: float = 0.7, yaw: float | None = 0.0) -> dict:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return {"t": t, "track_id": track, **{f"p_{e}": (p if e == top else rest) for e in EMOTIONS},
            "yaw": yaw, "pitch": None if yaw is None else 0.0}


def two_acts(frames: int = 6) -> list[dict]:
    """0-10 s: tracks 0-9, sad (0-6) or neutral (7-9), even tracks facing the camera, odd ones 70° away;
    10-20 s: tracks 10-19, happy (10-16) or neutral (17-19), all facing the camera but track 19."""
    rows = []
    for k in range(frames):
        for track in range(10):
            rows.append(observation(k * 10 / frames, track, "sad" if track < 7 else "neutral",
                                    yaw=0.0 if track % 2 == 0 else 70.0))
        for track in range(10, 20):
            rows.append(observation(10 + k * 10 / frames, track, "happy" if track < 17 else "neutral",
                                    yaw=50.0 if track == 19 else -5.0))
    return rows


def metric(pair: dict, name: str) -> dict:
    return next(m for m in pair["metrics"] if m["metric"] == name)


def test_a_clear_change_of_the_crowd_is_flagged_and_a_small_one_is_not():
    result = compare_time_ranges(two_acts(), [(0.0, 10.0), (10.0, 20.0)])
    first, second = result["groups"]
    assert result["names"] == compared_names() == [*EMOTIONS, "positive", "negative", "attention", "valence", "arousal"]
    assert (first["tracks"], second["tracks"]) == (10, 10)
    assert first["observations"] == second["observations"] == 60
    assert first["shares"]["sad"]["value"] == pytest.approx(0.7) and second["shares"]["happy"]["value"] == pytest.approx(0.7)
    assert first["attention"]["value"] == pytest.approx(0.5) and second["attention"]["value"] == pytest.approx(0.9)
    assert first["valence"]["value"] < 0 < second["valence"]["value"]

    (pair,) = result["differences"]
    assert (pair["first"], pair["second"]) == (0, 1)
    for name in ("happy", "sad", "positive", "negative", "valence"):
        assert metric(pair, name)["flagged"], name
        assert metric(pair, name)["p_value"] < 0.01
    assert metric(pair, "happy")["difference"] == pytest.approx(0.7)
    assert metric(pair, "sad")["difference"] == pytest.approx(-0.7)
    # 5 of 10 facing the camera, then 9 of 10: with ten people a side, that could be chance.
    attention = metric(pair, "attention")
    assert attention["difference"] == pytest.approx(0.4) and not attention["flagged"]
    assert attention["p_value"] > 0.05 and not attention["separated"]
    # Neutral is 3 of 10 tracks in both: nothing to see.
    assert metric(pair, "neutral")["difference"] == pytest.approx(0.0) and not metric(pair, "neutral")["flagged"]
    assert set(pair["flagged"]) == {m["metric"] for m in pair["metrics"] if m["flagged"]}


def test_one_person_seen_in_many_frames_is_not_a_crowd():
    """Six people a side. In the first range one happy person is in view for 200 frames, the five others
    for 2 frames each: 95% of the observations are happy, 0% in the second range. A frame count would
    call that certain; over people it is one happy person among twelve, and nothing is flagged."""
    rows = [observation(0.1 * k, 0, "happy") for k in range(200)]
    rows += [observation(0.1 * k, track, "neutral") for track in range(1, 6) for k in range(2)]
    rows += [observation(30 + 0.1 * k, track, "neutral") for track in range(6, 12) for k in range(2)]
    result = compare_time_ranges(rows, [(0.0, 30.0), (30.0, 60.0)])
    first, second = result["groups"]
    assert first["shares"]["happy"]["value"] == pytest.approx(200 / 210, abs=1e-4)
    low, high = first["shares"]["happy"]["interval"]
    assert low < 0.5, "one track carries the share: the interval over tracks must say so"
    happy = metric(result["differences"][0], "happy")
    assert happy["p_value"] > 0.3 and not happy["flagged"]

    # The same observations with every frame its own "track" would be flagged: the tracks make the difference.
    values = crowd_values(rows)
    frames_as_tracks = np.arange(len(rows))
    first_range, second_range = values.ts < 30, values.ts >= 30
    by_frame = [track_totals(frames_as_tracks[r], values.values[r]) for r in (first_range, second_range)]
    naive = compare_groups(by_frame, values.names)
    assert metric(naive["differences"][0], "happy")["flagged"]


def test_groups_drawn_from_one_crowd_are_rarely_flagged():
    """100 pairs of 20-track groups from the same crowd (each track's happy rate drawn from one Beta):
    a flag needs separated 95% intervals and p < 0.05, so it comes up far less often than 5%."""
    rng = np.random.default_rng(3)
    flags, rejections = 0, 0
    for _ in range(100):
        groups = []
        for _side in range(2):
            rates = rng.beta(2, 3, size=20)
            frames = rng.integers(2, 30, size=20)
            ids = np.repeat(np.arange(20), frames)
            happy = rng.random(len(ids)) < np.repeat(rates, frames)
            groups.append(track_totals(ids, happy.astype(float)))
        stats = [group_statistics(g, ["happy"], n_resamples=400) for g in groups]
        (result,) = compare_pair(groups[0], groups[1], *stats, ["happy"], n_permutations=400)
        flags += result["flagged"]
        rejections += result["p_value"] < 0.05
    assert rejections <= 12, "the permutation test rejects at about its stated 5% under the null"
    assert flags <= 3


def test_flags_need_both_separated_intervals_and_the_test():
    assert intervals_separate([0.1, 0.2], [0.3, 0.4]) and intervals_separate([0.3, 0.4], [0.1, 0.2])
    assert not intervals_separate([0.1, 0.3], [0.25, 0.4])
    assert not intervals_separate(None, [0.3, 0.4])


def test_a_range_with_too_few_tracks_gets_numbers_but_no_intervals_and_no_flags():
    rows = [observation(k, track, "happy") for k in range(5) for track in range(MIN_TRACKS - 1)]
    rows += [observation(10 + k, track, "sad") for k in range(5) for track in range(10, 20)]
    result = compare_time_ranges(rows, [(0, 5), (10, 15)])
    few, many = result["groups"]
    assert few["too_few_tracks"] and few["shares"]["happy"] == {"value": 1.0, "interval": None, "tracks": 4}
    assert not many["too_few_tracks"] and many["shares"]["sad"]["interval"] is not None
    assert result["differences"][0]["flagged"] == []


def test_ranges_are_half_open_and_an_empty_range_has_no_numbers():
    rows = [observation(t, 0, "happy") for t in (0.0, 5.0, 10.0)]
    values = crowd_values(rows)
    assert values.totals(0.0, 10.0).counts[:, 0].sum() == 2      # t = 10 belongs to the next range
    result = compare_time_ranges(rows, [(0.0, 10.0), (20.0, 30.0)])
    empty = result["groups"][1]
    assert empty["tracks"] == 0 and empty["observations"] == 0 and empty["shares"]["happy"]["value"] is None
    assert metric(result["differences"][0], "happy") == {"metric": "happy", "difference": None, "p_value": None,
                                                         "separated": False, "flagged": False}


def test_without_head_poses_attention_is_not_available_rather_than_zero():
    rows = [observation(k, track, "happy", yaw=None) for k in range(3) for track in range(6)]
    rows += [observation(10 + k, track, "sad", yaw=None) for k in range(3) for track in range(6, 12)]
    result = compare_time_ranges(rows, [(0, 5), (10, 15)])
    for group in result["groups"]:
        assert group["attention"] == {"value": None, "interval": None, "tracks": 0, "observations_with_pose": 0}
    attention = metric(result["differences"][0], "attention")
    assert attention["p_value"] is None and not attention["flagged"]


def test_the_same_observations_give_the_same_numbers_whatever_else_is_compared():
    rows = two_acts()
    alone = compare_time_ranges(rows, [(0.0, 10.0)])["groups"][0]
    beside_others = compare_time_ranges(rows, [(10.0, 20.0), (5.0, 15.0), (0.0, 10.0)])["groups"][2]
    assert alone == beside_others
    assert compare_time_ranges(rows, [(0.0, 10.0)])["differences"] == []
