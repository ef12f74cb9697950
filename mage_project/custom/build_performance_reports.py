from machine_learning.monitoring.reports import run_performance_reports
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def build_reports(*args, **kwargs):
    """Evidently reports of the day (variable batch_date, else the run's execution_date): workspace + S3 HTML."""
    day = kwargs.get("batch_date") or kwargs.get("execution_date")
    return run_performance_reports(load_settings(kwargs), day)
