"""Drift and accuracy arithmetic on real output arrays (no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.trial.drift import accuracy, compare


def test_compare_reports_the_largest_difference_and_top1_agreement():
    reference = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]], np.float32)
    outputs = reference.copy()
    outputs[2] = [0.45, 0.25, 0.30]  # top class flips from 2 to 0
    outputs[3] = [0.49, 0.41, 0.10]  # moves, same top class
    result = compare(outputs, reference)
    assert result["drift_max_abs"] == pytest.approx(0.15, abs=1e-6)
    assert result["top1_agreement"] == 0.75


def test_compare_identical_outputs():
    x = np.random.default_rng(0).random((16, 10))
    assert compare(x, x) == {"drift_max_abs": 0.0, "top1_agreement": 1.0}


def test_compare_single_output_has_no_top1():
    result = compare(np.array([[0.2], [0.9]]), np.array([[0.25], [0.9]]))
    assert result["drift_max_abs"] == pytest.approx(0.05)
    assert math.isnan(result["top1_agreement"])


def test_compare_rejects_different_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        compare(np.zeros((2, 3)), np.zeros((3, 3)))


def test_accuracy_counts_top_class_matches():
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert accuracy(outputs, np.array([0, 1, 1, 1])) == 0.75


@pytest.mark.parametrize(("outputs", "labels"), [
    (np.zeros((3, 2)), np.array([0, 1, 2])),  # label 2 beyond the model's 2 classes
    (np.zeros((3, 2)), np.array([0, 1])),  # lengths differ
    (np.zeros((0, 2)), np.array([], dtype=int)),  # nothing to count
    (np.zeros(3), np.array([0, 1, 0])),  # not one score per class
])
def test_accuracy_is_missing_where_it_cannot_mean_anything(outputs, labels):
    assert math.isnan(accuracy(outputs, labels))
