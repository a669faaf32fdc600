"""run.py raises the youngest GC generation's threshold (settings.gc_young_threshold) at start."""

from __future__ import annotations

import gc

import pytest

import run
from settings import Settings


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_tune_gc_sets_the_young_threshold_and_keeps_the_others(thresholds):
    assert run.tune_gc(12_345) == (12_345, *thresholds[1:])
    assert gc.get_threshold() == (12_345, *thresholds[1:])


def test_zero_leaves_pythons_thresholds(thresholds):
    assert run.tune_gc(0) == thresholds


def test_the_default_is_raised_and_negative_is_refused():
    assert Settings().gc_young_threshold > 700  # Python's own default is what made full collections frequent
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings(gc_young_threshold=-1).validated()
