from machine_learning.monitoring.nightly import record_monitoring_night
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def record(drift, decision, *args, **kwargs):
    """Record the night as an MLflow run (metrics over days, decision as tags) and store the decision record."""
    settings = load_settings(kwargs)
    return record_monitoring_night(connect(settings), settings, drift, decision)
