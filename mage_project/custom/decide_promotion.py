from machine_learning.selection import announce_selection
from machine_learning.settings import load_settings

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def decide(compared, *args, **kwargs):
    """Promote only if better by PROMOTION_MARGIN (pure decision). Prints the decision as one line."""
    return announce_selection(load_settings(kwargs), compared)
