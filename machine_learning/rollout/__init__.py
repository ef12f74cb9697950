"""Safe rollout: the promotion policy and its audit log, the canary / shadow split in serving, automatic retreat.

``policy`` (pure transitions), ``audit`` (the append-only log in MLflow tags and S3), ``approval`` (the steps that
move aliases under the policy), ``split`` (the sticky PlayerID split), ``router`` (production and one challenger
inside the serving API) and ``retreat`` (the pure rule that withdraws a canary).
"""
