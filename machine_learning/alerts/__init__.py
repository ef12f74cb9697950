"""Alerts to a Slack-compatible webhook: what needs a person (events) and how it is sent once (webhook)."""
