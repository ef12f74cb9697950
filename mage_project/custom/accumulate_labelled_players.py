from machine_learning.data.accumulate import accumulate_training_data
from machine_learning.inference.batch import as_day
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def accumulate(*args, **kwargs):
    """Latest processed players + every labelled day up to batch_date; days before changed_since count as old data."""
    settings = load_settings(kwargs)
    until = as_day(kwargs.get("batch_date") or kwargs.get("execution_date"))
    store = connect(settings).store
    return accumulate_training_data(store, settings, until, kwargs.get("changed_since")).to_dict()
