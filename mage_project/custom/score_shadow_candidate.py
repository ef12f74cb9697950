from machine_learning.inference.batch import score_daily_shadow
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def score_shadow(located, scored, *args, **kwargs):
    """Score the same batch with a waiting candidate, in shadow (never served); returns the day's result."""
    settings = load_settings(kwargs)
    return score_daily_shadow(connect(settings), settings, located, scored)
