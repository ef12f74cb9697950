from machine_learning.selection import run_model_selection
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def select(*args, **kwargs):
    """Score candidate and production on the same held-out rows; promote the candidate only if better."""
    return run_model_selection(load_settings(kwargs))
