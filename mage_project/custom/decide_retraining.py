from machine_learning.monitoring.nightly import decide_retraining
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def decide(drift, quality, *args, **kwargs):
    """Decide from live quality; trigger retraining once per episode. Prints the decision as one line."""
    settings = load_settings(kwargs)
    return decide_retraining(connect(settings), settings, drift, quality)
