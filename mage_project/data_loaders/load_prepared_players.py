from machine_learning.data.prepare import load_prepared_players
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_prepared(*args, **kwargs):
    """Read the latest processed, labelled players published by data_preparation."""
    settings = load_settings(kwargs)
    return load_prepared_players(connect(settings).store, settings)
