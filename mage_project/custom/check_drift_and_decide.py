from machine_learning.monitoring.nightly import run_performance_monitoring
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def check_and_decide(*args, **kwargs):
    """Drift tests of the day's scored data vs production's reference; trigger retraining once per episode."""
    day = kwargs.get("batch_date") or kwargs.get("execution_date")
    return run_performance_monitoring(load_settings(kwargs), day)
