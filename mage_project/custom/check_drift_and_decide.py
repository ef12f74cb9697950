from machine_learning.inference.batch import as_day
from machine_learning.monitoring.nightly import run_performance_monitoring
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def check_and_decide(*args, **kwargs):
    """Drift tests of the day's scored data vs production's reference; trigger retraining once per episode."""
    settings = load_settings(kwargs)
    return run_performance_monitoring(settings, as_day(kwargs.get("batch_date") or kwargs.get("execution_date")))
