import logging
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from predlog_helpers import exchange

from machine_learning.predlog.writer import PredictionLog


class Sink:
    """Keeps written files; can block (a slow S3) or fail (S3 down)."""

    def __init__(self, fail: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, key: str, data: bytes) -> None:
        self.gate.wait()
        if self.fail:
            raise ConnectionError("S3 is down")
        self.files[key] = data

    def rows(self) -> pd.DataFrame:
        import io

        frames = [pd.read_parquet(io.BytesIO(data)) for data in self.files.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def sink():
    return Sink()


def test_a_batch_is_written_when_it_reaches_batch_rows(sink):
    log = PredictionLog(sink, max_rows=100, batch_rows=4, flush_seconds=60)
    log.start()
    for player in range(3):
        log.offer(exchange([player]))
    time.sleep(0.1)
    assert not sink.files, "three rows wait for a fourth (or the time limit)"
    log.offer(exchange([3]))
    wait_until(lambda: len(sink.files) == 1)
    assert sorted(sink.rows()["PlayerID"]) == [0, 1, 2, 3]
    assert log.stop().written_rows == 4


def test_a_batch_is_written_when_its_oldest_call_waited_flush_seconds(sink):
    log = PredictionLog(sink, max_rows=100, batch_rows=1000, flush_seconds=0.05)
    log.start()
    log.offer(exchange([1, 2]))
    wait_until(lambda: log.stats().written_rows == 2)
    log.stop()


def test_what_is_queued_is_written_at_shutdown(sink):
    log = PredictionLog(sink, max_rows=100, batch_rows=1000, flush_seconds=3600)
    log.start()
    log.offer(exchange([1, 2, 3]))
    stats = log.stop()
    assert (stats.written_rows, stats.queued_rows, stats.lost_rows) == (3, 0, 0)
    assert sorted(sink.rows()["PlayerID"]) == [1, 2, 3]


def test_with_s3_slow_memory_stays_bounded_and_every_dropped_prediction_is_counted(sink):
    sink.gate.clear()  # S3 hangs
    log = PredictionLog(sink, max_rows=10, batch_rows=2, flush_seconds=0.01)
    log.start()
    accepted = [log.offer(exchange([player, player + 1000])) for player in range(20)]
    peak = log.stats()
    assert peak.queued_rows <= 10, "never more than max_rows in memory"
    assert peak.dropped_rows == 2 * accepted.count(False) > 0
    sink.gate.set()
    final = log.stop()
    assert final.written_rows + final.lost_rows == 2 * len(accepted), "every prediction is written or counted"
    assert final.written_rows == len(sink.rows()) and final.queued_rows == 0


def test_a_failed_write_is_counted_as_lost_with_its_error_and_logged(caplog):
    log = PredictionLog(Sink(fail=True), max_rows=100, batch_rows=1, flush_seconds=60)
    log.start()
    log.offer(exchange([1, 2]))
    wait_until(lambda: log.stats().failed_rows == 2)
    with caplog.at_level(logging.WARNING, logger="machine_learning.predlog.writer"):
        stats = log.stop()
    assert (stats.written_rows, stats.lost_rows) == (0, 2)
    assert "ConnectionError: S3 is down" in stats.last_error
    assert "2 lost" in caplog.text and "S3 is down" in caplog.text
    assert stats.to_dict()["lost_rows"] == 2


def test_one_file_per_title_and_day(sink):
    log = PredictionLog(sink, max_rows=100, batch_rows=100, flush_seconds=60)
    log.start()
    log.offer(exchange([1], at=1_764_633_600.0))
    log.offer(exchange([2], at=1_764_633_600.0 + 86_400))
    log.offer(exchange([3], title="other-game"))
    log.stop()
    folders = sorted(key.rsplit("/", 1)[0] for key in sink.files)
    assert folders == [
        "other-game/prediction-log/date=2025-12-02",
        "unit-test/prediction-log/date=2025-12-02",
        "unit-test/prediction-log/date=2025-12-03",
    ]
