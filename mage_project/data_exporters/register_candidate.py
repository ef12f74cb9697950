from machine_learning.registry import register_candidate
from machine_learning.rollout.audit import AuditLog
from machine_learning.services import connect
from machine_learning.settings import load_settings
from machine_learning.training.train import TrainingResult

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def register(result, *args, **kwargs):
    """Apply the quality gate and register the model as the new 'candidate' version."""
    settings = load_settings(kwargs)
    services = connect(settings)
    audit = AuditLog(services.mlflow, services.store, settings)
    return register_candidate(services.mlflow, settings, TrainingResult(**result), audit).to_dict()
