"""Gunicorn settings of the MLflow server: accept only the Host names it serves.

MLflow 3.2.0 has no ``--allowed-hosts`` option (it came later), but its server is a Flask 3.1 app, and Flask's
``TRUSTED_HOSTS`` setting (a maintained part of Flask/Werkzeug) answers HTTP 400 to any other Host header. That
closes DNS rebinding from a browser. ``mlflow server --gunicorn-opts "--config <this file>"`` loads it; the names
come from ``MLFLOW_TRUSTED_HOSTS`` (comma-separated host names without port; unset or empty: every host, as
upstream). On ECS the load balancer's host-header rules do this instead, since its health checks use the task's IP.
"""

import os


def post_worker_init(worker):
    """Gunicorn server hook, called once per worker after it loaded the app: set Flask's TRUSTED_HOSTS."""
    hosts = [host.strip() for host in os.environ.get("MLFLOW_TRUSTED_HOSTS", "").split(",") if host.strip()]
    if hosts:
        worker.wsgi.config["TRUSTED_HOSTS"] = hosts
