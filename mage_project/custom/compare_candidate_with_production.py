from machine_learning.selection import compare_models
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def compare(*args, **kwargs):
    """Score candidate and production with the promotion metric on the same held-out (and recent) rows."""
    settings = load_settings(kwargs)
    services = connect(settings)
    return compare_models(services.mlflow, services.store, settings)
