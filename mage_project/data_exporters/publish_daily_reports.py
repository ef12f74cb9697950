from machine_learning.monitoring.reports import publish_daily_reports
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def publish(loaded, *args, **kwargs):
    """Data quality, data drift, prediction drift and model quality reports: Evidently snapshots + HTML in S3."""
    settings = load_settings(kwargs)
    return publish_daily_reports(connect(settings), settings, loaded["day"])
