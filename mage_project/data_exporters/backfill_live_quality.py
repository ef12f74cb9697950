from machine_learning.monitoring.reports import backfill_live_quality
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def backfill(published, *args, **kwargs):
    """One live-quality snapshot per labelled day of the window and role, back-filled when labels arrive."""
    settings = load_settings(kwargs)
    return backfill_live_quality(connect(settings), settings, published["day"])
