from machine_learning.selection import promote_selected
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def promote(compared, decision, *args, **kwargs):
    """Record the decision on the candidate; if promoted (and production is still the one compared), move aliases."""
    settings = load_settings(kwargs)
    services = connect(settings)
    return promote_selected(services.mlflow, services.store, settings, compared, decision)
