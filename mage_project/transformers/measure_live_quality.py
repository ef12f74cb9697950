from machine_learning.monitoring.nightly import measure_live_quality
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def measure(drift, *args, **kwargs):
    """Live quality of production (and a shadow candidate, promoted if it wins) on the labelled days."""
    settings = load_settings(kwargs)
    return measure_live_quality(connect(settings), settings, drift["day"])
