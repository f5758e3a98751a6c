"""The shared statistics of `app.core.decision`: sigmoid and the Wilson interval."""

import math

import numpy as np
import pytest

from app.core.decision import DecisionRule, sigmoid, wilson_interval


def test_sigmoid_is_the_logistic_function_and_stable_at_the_extremes():
    values = np.array([-5.0, -0.5, 0.0, 2.0, 30.0])
    np.testing.assert_allclose(sigmoid(values), 1 / (1 + np.exp(-values)), rtol=1e-12)
    assert sigmoid(np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
    rule = DecisionRule(temperature=2.0, threshold=0.5, uncertain_low=0.4, bias=0.5)
    assert rule.probabilities(3.0) == pytest.approx(sigmoid(3.0 / 2.0 + 0.5))


def test_wilson_interval_solves_its_defining_equation():
    z = 1.959963984540054
    for share, trials in ((0.3, 40), (0.0, 12), (1.0, 7.5)):
        low, high = wilson_interval(share, trials)
        for bound in (low, high):
            assert (share - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / trials, abs=1e-12)
    assert wilson_interval(0.5, 100, confidence=0.99)[0] < wilson_interval(0.5, 100)[0]
    assert math.isclose(sum(wilson_interval(0.5, 10)), 1.0)
