from machine_learning.inference.batch import score_daily_batch
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def score(located, *args, **kwargs):
    """Validate (bad rows quarantined) and score the day's batch; predictions and "current" data to S3."""
    settings = load_settings(kwargs)
    return score_daily_batch(connect(settings), settings, located)
