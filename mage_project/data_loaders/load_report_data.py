from machine_learning.inference.batch import as_day
from machine_learning.monitoring.reports import load_report_data
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_data(*args, **kwargs):
    """Find the day's reference data, scored players and labels (variable batch_date, else execution_date)."""
    settings = load_settings(kwargs)
    day = as_day(kwargs.get("batch_date") or kwargs.get("execution_date"))
    return load_report_data(connect(settings), settings, day)
