"""The classifier benchmark's narrowing options refuse what they cannot time, with a clear message."""
from __future__ import annotations

import argparse
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_classifier  # noqa: E402


def test_architectures_are_read_as_preset_at_crop():
    assert bench_classifier.parse_architectures("vgg-s@40, resnet-m@44") == (("vgg-s", 40), ("resnet-m", 44))


@pytest.mark.parametrize("value, message", [
    ("resnet-xl@44", "unknown architecture 'resnet-xl'"),
    ("vgg-m", "preset@side"),
    ("vgg-m@64", "preset@side"),
    (" , ", "at least one"),
])
def test_an_architecture_that_cannot_be_timed_is_refused(value, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bench_classifier.parse_architectures(value)


def test_modes_are_a_subset_of_the_test_time_augmentations():
    assert bench_classifier.parse_modes("none,flip") == ("none", "flip")
    with pytest.raises(argparse.ArgumentTypeError, match="subset of none, flip, crops"):
        bench_classifier.parse_modes("none,tencrop")
