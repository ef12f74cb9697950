import pytest

from machine_learning.rollout.retreat import RetreatLimits, VariantFigures, figures_from_dict, should_withdraw
from machine_learning.settings import Settings

LIMITS = RetreatLimits(max_p99_ms=50.0, max_error_increase=0.01, quality_tolerance=0.02, min_requests=100)
HEALTHY = VariantFigures(requests=1000, errors=0, p99_ms=5.0)


def test_a_challenger_as_good_as_production_stays():
    decision = should_withdraw(HEALTHY, VariantFigures(300, 1, 6.0), LIMITS)
    assert not decision.withdraw
    assert "within limits" in decision.reason and "limit 50.0 ms" in decision.reason


def test_more_errors_than_production_withdraws_it_with_the_figures_in_the_reason():
    decision = should_withdraw(HEALTHY, VariantFigures(200, 10, 6.0), LIMITS)
    assert decision.withdraw
    assert "error rate 5.00% (10/200)" in decision.reason and "limit 1.00%" in decision.reason


def test_a_p99_above_the_named_limit_withdraws_it():
    decision = should_withdraw(HEALTHY, VariantFigures(200, 0, 75.0), LIMITS)
    assert decision.withdraw
    assert "p99 latency 75.0 ms" in decision.reason and "CANARY_MAX_P99_MS=50.0" in decision.reason


def test_too_few_requests_are_not_judged():
    decision = should_withdraw(HEALTHY, VariantFigures(50, 50, 900.0), LIMITS)
    assert not decision.withdraw and "too few requests" in decision.reason


@pytest.mark.parametrize(("challenger", "withdraw"), [(0.85, True), (0.885, False), (0.95, False)])
def test_lower_live_quality_than_production_beyond_the_tolerance_withdraws_it(challenger, withdraw):
    production = VariantFigures(1000, 0, 5.0, live_accuracy=0.90, labelled=500)
    candidate = VariantFigures(10, 0, 5.0, live_accuracy=challenger, labelled=120)
    decision = should_withdraw(production, candidate, LIMITS)
    assert decision.withdraw is withdraw
    if withdraw:
        assert "live accuracy 0.8500 vs production 0.9000" in decision.reason and "tolerance 0.0200" in decision.reason


def test_quality_needs_enough_labelled_players():
    production = VariantFigures(1000, 0, 5.0, live_accuracy=0.90, labelled=500)
    candidate = VariantFigures(10, 0, 5.0, live_accuracy=0.10, labelled=20)
    assert not should_withdraw(production, candidate, LIMITS).withdraw


def test_limits_come_from_the_settings_and_figures_from_the_serving_answer():
    limits = RetreatLimits.from_settings(Settings(canary_max_p99_ms=12.5, canary_min_requests=7))
    assert (limits.max_p99_ms, limits.min_requests) == (12.5, 7)
    figures = figures_from_dict({"requests": 4, "errors": 1, "p99_ms": None})
    assert (figures.error_rate, figures.p99_ms, figures.live_accuracy) == (0.25, None, None)
