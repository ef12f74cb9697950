"""The operator API: the lifecycle's actions over HTTP for people and agents, with bearer tokens per role."""
