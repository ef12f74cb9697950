from machine_learning.monitoring.reports import summarise_reports
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def summarise(published, live, *args, **kwargs):
    """One line for the day: what was reported, and the dashboard's URL."""
    return summarise_reports(load_settings(kwargs), published, live)
