import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from machine_learning.data.numeric_text import parse_plain_numbers


def decimal_texts(seed: int = 0) -> list[str]:
    """Decimals as exporters write them: shortest reprs (up to 17 digits), fixed widths, leading zeros, odd forms."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.uniform(0, 168, 3000), rng.uniform(0, 1, 3000), rng.uniform(0, 1e5, 1000)])
    texts = [repr(float(value)) for value in values]
    texts += [f"{rng.integers(0, 10**9)}.{rng.integers(0, 10**9):09d}" for _ in range(2000)]
    texts += ["0." + "".join(map(str, rng.integers(0, 10, int(size)))) for size in rng.integers(1, 18, 2000)]
    texts += ["5.", ".5", "007", "0", "168", "168.0", "123456789012345678", "99999999999999999.9", "1.2345678901234567"]
    return texts


def test_decimals_equal_what_pandas_to_numeric_gives_bit_for_bit():
    texts = decimal_texts()
    expected = pd.to_numeric(pd.Series(texts, dtype=object)).to_numpy(dtype="float64")

    parsed = parse_plain_numbers(pa.array(texts), integer=False)

    done = np.ones(len(texts), dtype=bool) if parsed.parsed is None else parsed.parsed
    assert done.mean() > 0.95  # nearly every cell takes the fast path
    assert np.array_equal(parsed.values[done], expected[done])


def test_whole_numbers_are_exact_even_beyond_float_precision():
    texts = ["0", "42", "007", str(2**53 + 1), str(2**59 + 1)]
    parsed = parse_plain_numbers(pa.array(texts), integer=True)
    assert parsed.parsed is None
    assert parsed.values.tolist() == [0, 42, 7, 2**53 + 1, 2**59 + 1]


@pytest.mark.parametrize("integer", [True, False])
def test_cells_that_are_not_plain_numbers_are_left_to_the_general_parser(integer):
    texts = ["12", " 7", "1e3", "x", "", "-1", "+1", "1.2.3", ".", "nan", "inf", "1" * 19, "3.5"]
    parsed = parse_plain_numbers(pa.array(texts), integer=integer)
    assert parsed.parsed is not None
    plain = [text for text, done in zip(texts, parsed.parsed, strict=True) if done]
    assert plain == (["12"] if integer else ["12", "3.5"])
    assert parsed.values[0] == 12
