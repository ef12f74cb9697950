from machine_learning.inference.batch import locate_daily_batch
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def locate(*args, **kwargs):
    """The day's input (variables batch_date, input_uri), its output URIs and the production version."""
    settings = load_settings(kwargs)
    day = kwargs.get("batch_date") or kwargs.get("execution_date")
    return locate_daily_batch(connect(settings), settings, day, kwargs.get("input_uri"))
