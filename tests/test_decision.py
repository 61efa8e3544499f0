"""The fine-tuning decision's pure parts: which training images are held out, and when the head's
scores on them (or the budget) say fine-tuning would not pay. The whole decision on a trained
backbone: tests/test_pretrained.py."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from visionflow.training import decision


def _records(counts: dict[str, int]) -> list:
    return [SimpleNamespace(path=f"{label}/{i}.jpg", label=label) for label, n in counts.items() for i in range(n)]


def test_the_slice_is_a_share_of_each_class_and_never_of_the_smallest():
    records = _records({"ants": 40, "bees": 20, "wasps": 7})
    held = decision.hold_out(records, seed=0)
    assert Counter(r.label for r in held) == {"ants": 6, "bees": 3}  # 15%, rounded; wasps has fewer than 8
    assert held == decision.hold_out(records, seed=0) and held != decision.hold_out(records, seed=1)
    big = decision.hold_out(_records({"a": 3000, "b": 1000}), seed=0)
    assert len(big) == decision.MOST and Counter(r.label for r in big) == {"a": 188, "b": 62}  # still stratified
    assert decision.hold_out(_records({"a": 7, "b": 7}), seed=0) == []


def test_fine_tuning_is_skipped_only_where_it_cannot_pay():
    sure = {"slice_images": 37, "slice_accuracy": 1.0, "slice_loss": 0.1}
    assert "only make it surer, not righter" in decision.skip_reason(sure, "accuracy", epochs_that_fit=8, epochs=10)
    unsure = {**sure, "slice_loss": 0.35}  # all right, but barely: fine-tuning may firm it up
    assert decision.skip_reason(unsure, "accuracy", 8, 10) is None
    wrong = {**sure, "slice_accuracy": 0.875}
    assert decision.skip_reason(wrong, "accuracy", 8, 10) is None
    # a large slice: a few wrong of 250 (at most 2%) leave fine-tuning too little to win back
    nearly = {"slice_images": 250, "slice_accuracy": 0.988, "slice_loss": 0.06}
    assert "247 of 250 held-out training images right" in decision.skip_reason(nearly, "accuracy", 8, 10)
    assert "at most 1.2%" in decision.skip_reason(nearly, "accuracy", 8, 10)
    assert decision.skip_reason({**nearly, "slice_accuracy": 0.976}, "accuracy", 8, 10) is None  # 6 wrong: 2.4%
    assert decision.skip_reason({**nearly, "slice_loss": 0.3}, "accuracy", 8, 10) is None  # right, but unsure
    assert decision.skip_reason({"slice_images": 37, "slice_accuracy": 36 / 37, "slice_loss": 0.1}, "accuracy", 8,
                                10) is None  # one of 37 wrong is 2.7%
    assert "leaves room for 1 fine-tuning epoch(s)" in decision.skip_reason(wrong, "accuracy", 1, 10)
    assert decision.skip_reason(wrong, "accuracy", 1, epochs=1) is None  # one epoch asked for, one fits
    assert "no class has 8 training images" in decision.skip_reason({"slice_images": 0}, "accuracy", 8, 10)
    # a regression's MAE is not an accuracy: a perfect-looking 1.0 says nothing
    assert decision.skip_reason({"slice_images": 9, "slice_mae": 1.0, "slice_loss": 0.1}, "mae", 8, 10) is None
