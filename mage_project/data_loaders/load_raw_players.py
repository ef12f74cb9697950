from machine_learning.data.prepare import load_raw_players
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_raw(*args, **kwargs):
    """Read the raw player CSV (variable input_uri, default: the title's raw/players.csv in S3)."""
    settings = load_settings(kwargs)
    return load_raw_players(kwargs.get("input_uri") or settings.raw_uri, connect(settings).store)
