from machine_learning.data.prepare import prepare_players
from machine_learning.services import connect
from machine_learning.settings import load_settings

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def publish(raw, *args, **kwargs):
    """Validate rows, quarantine bad ones with reasons, publish processed and feature tables to S3."""
    settings = load_settings(kwargs)
    source = kwargs.get("input_uri") or settings.raw_uri
    return prepare_players(raw, connect(settings).store, settings, source).to_dict()


@test
def test_no_row_lost(output, *args) -> None:
    assert output["processed_rows"] + output["quarantined_rows"] == output["input_rows"], output
