from machine_learning.inference.batch import as_day
from machine_learning.monitoring.nightly import load_monitoring_data
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_data(*args, **kwargs):
    """Find production's reference data and the night's scored days (variable batch_date, else execution_date)."""
    settings = load_settings(kwargs)
    day = as_day(kwargs.get("batch_date") or kwargs.get("execution_date"))
    return load_monitoring_data(connect(settings), settings, day)
