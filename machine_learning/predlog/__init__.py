"""The prediction log: every online answer to S3 off the request path, and its live quality once labels arrive.

- :mod:`~machine_learning.predlog.records`: an answered ``/predict`` call becomes log rows (pure), and the S3 key
  of a batch (``<title>/prediction-log/date=D/part-<time>-<uuid>.parquet``).
- :mod:`~machine_learning.predlog.writer`: the bounded in-memory queue and the background writer; loss counted.
- :mod:`~machine_learning.predlog.serving`: the ASGI capture in front of the serving API and
  ``GET /prediction-log/stats``.
- :mod:`~machine_learning.predlog.quality`: the log joined with published labels, live quality per variant and
  version, and the retreat / promotion decision on it.
"""
