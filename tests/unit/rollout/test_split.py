import numpy as np
import pytest

from machine_learning.rollout.split import challenger_rows, player_position, positions, split_salt


def test_a_ten_percent_canary_gets_ten_plus_minus_one_percent_of_ten_thousand_players():
    ids = np.arange(1_000_000, 1_010_000)  # 10,000 distinct players, like one simulated day's IDs
    for version in ("2", "3", "17"):
        share = len(challenger_rows(ids, 0.1, split_salt("demo-game-engagement", version))) / len(ids)
        assert 0.09 <= share <= 0.11, f"v{version}: {share:.4f}"


@pytest.mark.parametrize("share", [0.01, 0.25, 0.5, 0.9])
def test_the_share_is_respected_at_any_size(share):
    ids = np.random.default_rng(3).choice(2**40, size=20_000, replace=False)
    got = len(challenger_rows(ids, share, split_salt("m", "1"))) / len(ids)
    assert abs(got - share) < 0.015


def test_a_player_meets_the_same_variant_on_every_call_alone_or_in_any_batch():
    salt = split_salt("demo-game-engagement", "5")
    ids = list(range(500, 1_500))
    chosen = {ids[row] for row in challenger_rows(ids, 0.3, salt)}
    for player in ids[:200]:  # alone: the plain-Python path
        assert bool(challenger_rows([player], 0.3, salt)) is (player in chosen)
    shuffled = list(reversed(ids))  # another batch, another order: the numpy path
    assert {shuffled[row] for row in challenger_rows(shuffled, 0.3, salt)} == chosen


def test_positions_are_a_fixed_function_not_pythons_salted_hash():
    # Golden values: a change of the hash would silently move every player to another variant.
    salt = split_salt("demo-game-engagement", "2")
    assert salt == split_salt("demo-game-engagement", "2")
    assert [round(player_position(player, 0), 12) for player in (0, 1, 2)] == pytest.approx(
        [float(v) for v in positions([0, 1, 2], 0)]
    )
    # SplitMix64's reference first output for state 0 is 0xE220A8397B1DCDAF.
    assert player_position(0, 0) == 0xE220A8397B1DCDAF / 2**64


def test_numpy_and_plain_python_agree_on_large_ids():
    ids = np.array([0, 1, 2**40, 2**62, 123_456_789], dtype=np.int64)
    salt = split_salt("m", "9")
    np.testing.assert_array_equal(positions(ids, salt), [player_position(int(i), salt) for i in ids])


def test_another_challenger_meets_another_sample_of_players():
    ids = np.arange(10_000)
    first = set(challenger_rows(ids, 0.1, split_salt("m", "2")))
    second = set(challenger_rows(ids, 0.1, split_salt("m", "3")))
    assert len(first & second) < 0.2 * len(first)  # about 10% overlap if independent


def test_zero_and_full_shares():
    assert challenger_rows([1, 2, 3], 0.0, 1) == []
    assert challenger_rows([1, 2, 3], 1.0, 1) == [0, 1, 2]
