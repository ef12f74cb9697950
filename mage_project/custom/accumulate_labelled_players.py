from machine_learning.data.accumulate import accumulate_training_data
from machine_learning.inference.batch import as_day
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def accumulate(*args, **kwargs):
    """Latest processed players + every day whose labels were published (up to batch_date / the run's date)."""
    settings = load_settings(kwargs)
    until = as_day(kwargs.get("batch_date") or kwargs.get("execution_date"))
    return accumulate_training_data(connect(settings).store, settings, until).to_dict()
