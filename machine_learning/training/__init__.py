"""Training stage: the model pipeline, its evaluation, and training runs tracked in MLflow."""
