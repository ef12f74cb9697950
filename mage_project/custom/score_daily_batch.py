from machine_learning.inference.batch import run_daily_batch
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def score(*args, **kwargs):
    """Score the day's batch (variables batch_date, input_uri) with the production model; write to S3."""
    return run_daily_batch(
        load_settings(kwargs), kwargs.get("batch_date") or kwargs.get("execution_date"), kwargs.get("input_uri")
    )
