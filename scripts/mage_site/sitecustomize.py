"""Keep trigger tokens out of Mage's logs (loaded by Python at start-up: stack.py puts this folder on PYTHONPATH).

Mage 0.9.80 serves API triggers at ``/api/pipeline_schedules/<id>/pipeline_runs/<token>``, and Tornado's access log
(logger ``tornado.access``) writes every request line, so each triggered run printed its token in clear text;
Tornado's error loggers repeat the request line of a request that failed.
Mage offers no setting for this and lowering its log level would also hide its own messages, so a standard
``logging.Filter`` on that one logger replaces the token with ``***``; every other line is left as it is. Nothing
else happens at start-up.
"""

from __future__ import annotations

import logging
import re

# A token in a trigger URL, or one a caller put in the path of /api/runs (Tornado logs that request as an error).
_TOKEN_IN_PATH = re.compile(r"(/pipeline_schedules/[^/]+/pipeline_runs/|/api/runs/)[^/?#\s'\"]+")


class RedactTriggerTokens(logging.Filter):
    """Rewrites a record whose message holds a trigger URL, so no handler ever sees the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the token in the record's message; keep every record."""
        message = record.getMessage()
        redacted = _TOKEN_IN_PATH.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


for _name in ("tornado.access", "tornado.application", "tornado.general"):
    logging.getLogger(_name).addFilter(RedactTriggerTokens())
