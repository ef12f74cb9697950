from machine_learning.monitoring.nightly import check_drift
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def run_tests(loaded, *args, **kwargs):
    """Evidently drift tests of the night's data vs production's reference: snapshot + HTML; drift as a warning."""
    settings = load_settings(kwargs)
    return check_drift(connect(settings), settings, loaded["day"])
