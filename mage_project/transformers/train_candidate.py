from machine_learning.services import connect
from machine_learning.settings import load_settings
from machine_learning.training.train import train_candidate

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def train(players, *args, **kwargs):
    """Split, fit, evaluate and log to MLflow (variable params: pipeline overrides, e.g. classifier__max_iter)."""
    settings = load_settings(kwargs)
    return train_candidate(players, connect(settings).store, settings, kwargs.get("params")).to_dict()
