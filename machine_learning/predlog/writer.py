"""The background writer of the prediction log: a bounded in-memory queue, batches to S3, every loss counted.

The request path calls :meth:`PredictionLog.offer`, which never blocks and never does I/O: it counts the
call's predictions against ``max_rows`` and puts the raw call on a queue, or, when the log is full, drops it and
counts the loss. One daemon thread takes calls off the queue, decodes them in bulk
(:func:`~machine_learning.predlog.records.rows_from_exchanges`) and writes a Parquet file per title and day
when a batch reaches ``batch_rows`` or its oldest call has waited ``flush_seconds``, and once more at shutdown.
Rows count against ``max_rows`` until their batch is written or given up, so a slow or unreachable S3 fills the
bound and then costs dropped rows, never memory or latency. A failed write is counted as lost too (boto3 has
already retried it), with the error kept for ``/prediction-log/stats`` and a warning logged.

Why our own ~150 lines rather than a library: the pieces are the standard library's ``queue`` and ``threading``;
what is ours is only the row-counted bound and the flush rule. Kinesis Firehose or Kafka would do this as a
service but are not part of the stack (no network here, nothing to run locally); logging's ``QueueListener`` has
no batching and no bound by rows; pyarrow's dataset writer needs the rows in memory first, which is the part
that must stay bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from machine_learning.predlog.records import Exchange, batch_key, rows_from_exchanges
from machine_learning.storage import to_parquet_bytes

logger = logging.getLogger(__name__)

LOSS_REPORT_SECONDS = 10.0  # at most one warning per this many seconds while predictions are being lost
Sink = Callable[[str, bytes], None]  # (key, parquet bytes) -> None; raises when the write failed


@dataclass(frozen=True)
class LogStats:
    """What the log did since serving started: written, waiting, and lost (queue full or write failed)."""

    enabled: bool
    written_rows: int
    written_files: int
    queued_rows: int
    dropped_rows: int
    failed_rows: int
    max_rows: int
    batch_rows: int
    flush_seconds: float
    last_write_at: str | None
    last_error: str | None

    @property
    def lost_rows(self) -> int:
        """Predictions that will never reach the log."""
        return self.dropped_rows + self.failed_rows

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (``lost_rows`` included)."""
        return {**asdict(self), "lost_rows": self.lost_rows}

    def describe(self) -> str:
        """One line for the serving log."""
        return (
            f"prediction log: {self.written_rows} predictions written in {self.written_files} files, "
            f"{self.queued_rows} waiting, {self.lost_rows} lost ({self.dropped_rows} dropped with the queue full, "
            f"{self.failed_rows} in failed writes)" + (f"; last error: {self.last_error}" if self.last_error else "")
        )


class PredictionLog:
    """A bounded queue of answered calls and the thread that writes them to S3 in batches.

    Args:
        sink: Writes one file (key, bytes); raises on failure.
        max_rows: Predictions held in memory at most (queued plus the batch being written).
        batch_rows: A batch is written once it has this many predictions ...
        flush_seconds: ... or once its oldest call has waited this long.
        clock: Monotonic seconds (tests pass a fake).

    """

    def __init__(
        self,
        sink: Sink,
        max_rows: int,
        batch_rows: int,
        flush_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink, self._clock = sink, clock
        self.max_rows, self.batch_rows, self.flush_seconds = max_rows, batch_rows, flush_seconds
        self._queue: queue.SimpleQueue[Exchange | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = self._dropped = self._failed = self._written = self._files = 0
        self._last_write: str | None = None
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._reported_loss, self._reported_at = 0, 0.0

    # --- the request path ----------------------------------------------------------------------------------
    def offer(self, exchange: Exchange) -> bool:
        """Queue a call for the log without blocking; when the log is full, drop it and count the loss.

        Returns:
            Whether it was queued.

        """
        with self._lock:
            if self._pending + exchange.rows > self.max_rows:
                self._dropped += exchange.rows
                return False
            self._pending += exchange.rows
        self._queue.put(exchange)
        return True

    # --- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> LogStats:
        """Write what is queued, stop the thread and log the totals.

        Args:
            timeout: Seconds to wait for the last writes; calls still unwritten then are counted as lost.

        Returns:
            The final figures.

        """
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                with self._lock:
                    self._failed += self._pending
                    self._last_error = f"still writing {timeout:.0f} s after shutdown began"
                    self._pending = 0
            self._thread = None
        stats = self.stats()
        (logger.warning if stats.lost_rows else logger.info)("%s", stats.describe())
        return stats

    def stats(self, enabled: bool = True) -> LogStats:
        """Return the figures so far."""
        with self._lock:
            return LogStats(
                enabled, self._written, self._files, self._pending, self._dropped, self._failed,
                self.max_rows, self.batch_rows, self.flush_seconds, self._last_write, self._last_error,
            )  # fmt: skip

    # --- the writer thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        batch: list[Exchange] = []
        rows, started = 0, 0.0
        while True:
            wait = None if not batch else max(0.0, started + self.flush_seconds - self._clock())
            item: Exchange | bool | None
            try:
                item = self._queue.get(timeout=wait) if wait is None or wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                item = False  # the oldest call waited flush_seconds
            if isinstance(item, Exchange):
                if not batch:
                    started = self._clock()
                batch.append(item)
                rows += item.rows
                if rows < self.batch_rows:
                    continue
            if batch:
                self.write_batch(batch)
                batch, rows = [], 0
            self._report_loss()
            if item is None:
                return

    def write_batch(self, batch: list[Exchange]) -> None:
        """Write one batch as a file per title and day; count what was written and what was lost."""
        rows = sum(exchange.rows for exchange in batch)
        written = 0
        try:
            frame = rows_from_exchanges(batch)
            for (title, day), part in frame.groupby(["title", "date"], sort=True):
                self._sink(batch_key(str(title), str(day)), to_parquet_bytes(part.drop(columns="title")))
                written += len(part)
                with self._lock:
                    self._files += 1
        except Exception as error:  # noqa: BLE001 - S3 down or slow: count the loss, keep serving
            with self._lock:
                self._failed += rows - written
                self._last_error = f"{type(error).__name__}: {str(error)[:300]}"
        finally:
            with self._lock:
                self._pending -= rows
                self._written += written
                self._last_write = datetime.now(UTC).isoformat() if written else self._last_write

    def _report_loss(self) -> None:
        stats = self.stats()
        now = self._clock()
        if stats.lost_rows > self._reported_loss and now - self._reported_at >= LOSS_REPORT_SECONDS:
            logger.warning("%s", stats.describe())
            self._reported_loss, self._reported_at = stats.lost_rows, now
