"""Print the serving API's latency under a fixed request rate, and the latency of one 1,000-player request.

The server is the real one (`python -m machine_learning.serving`, one uvicorn worker) started here as a
subprocess on a free loopback port. Its model is trained here on the shipped dataset and placed in a fresh
local model cache as version 1 of production, the cache the server uses when MLflow is unreachable, so no
stack is needed. The load generator is open-loop: requests leave at a fixed rate whatever the answers do, and
latency is counted from the time a request was due, so a stalled server cannot hide its backlog.

A benchmark prints figures; it asserts nothing. Run with `make bench-serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import mlflow
from threadpoolctl import threadpool_limits

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.data.validate import validate_players
from machine_learning.training.model import build_pipeline

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "data" / "online_gaming_behavior_dataset.csv.gz"
TITLE = "bench-serve"
KEEP_ALIVE_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_trained_model(cache: Path) -> list[dict[str, object]]:
    """Train on the shipped data, save it as cached production version 1; return the players as JSON rows."""
    players = validate_players(parse_raw_players(DATASET.read_bytes(), DATASET.name)).clean
    with threadpool_limits(limits=1):
        pipeline = build_pipeline(random_state=42).fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])
    root = cache / f"{TITLE}-engagement"
    mlflow.sklearn.save_model(pipeline, str(root / "versions" / "1"))
    (root / "aliases").mkdir(parents=True)
    (root / "aliases" / "production.json").write_text(json.dumps({"version": "1"}))
    records = players[[ID_COLUMN, *FEATURE_COLUMNS]].to_dict(orient="records")
    return [{key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()} for row in records]


def start_server(port: int, token: str, cache: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GAME_TITLE": TITLE,
        "SERVING_PORT": str(port),
        "SERVING_TOKEN": token,
        "MODEL_CACHE_DIR": str(cache),
        "SERVING_MAX_BODY_BYTES": "4000000",  # 10,000 players take ~3.3 MB of JSON
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nobody listens: the cache serves
    }
    command = [sys.executable, "-m", "machine_learning.serving"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read().decode() if server.stderr else ''}")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("server not healthy after 60 s")


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    It costs the load generator far less CPU than httpx (~1 ms per request here), so on a 2-core machine the
    latency printed is mostly the server's, not the client's.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post(self, path: str, body: bytes) -> int:
        """Send one POST on an idle connection (or a new one) and return the status code."""
        reader, writer = await self._connection()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Token: {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in headers if line.lower().startswith("content-length:"))
        await reader.readexactly(length)
        self.idle.append((reader, writer, time.monotonic()))
        return int(headers[0].split()[1])

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer, last_used = self.idle.pop()
            if time.monotonic() - last_used < KEEP_ALIVE_SECONDS:
                return reader, writer
            writer.close()  # uvicorn closes connections idle for 5 s: never send on one that may be closing
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        """Close the idle connections."""
        for _, writer, _ in self.idle:
            writer.close()


async def fixed_rate_load(port: int, token: str, bodies: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """Send one request every 1/rate seconds (open loop) and collect latencies from each request's due time."""
    client = RawClient(port, token)
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def one(due: float, body: bytes) -> None:
        try:
            status = await client.post("/predict", body)
            if status != 200:
                errors[f"HTTP {status}"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as error:
            errors[type(error).__name__] += 1
        latencies.append(time.perf_counter() - due)

    for body in bodies[:500]:  # warm up connections and code paths, not measured
        await client.post("/predict", body)
    count = int(rate * seconds)
    start = time.perf_counter() + 0.1
    tasks = []
    for index in range(count):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due, bodies[index % len(bodies)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    await client.close()
    ordered = sorted(latencies)
    return {
        "requests": count,
        "achieved_rate": count / elapsed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        **{f"p{q}": ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3 for q in (50, 90, 99)},
        "max": ordered[-1] * 1e3,
        "mean": statistics.mean(ordered) * 1e3,
    }


def batch_latency(url: str, token: str, players: list[dict[str, object]], size: int, repeats: int) -> list[float]:
    body = json.dumps({"players": players[:size]}).encode()
    headers = {"X-API-Token": token, "Content-Type": "application/json"}
    timings = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(repeats + 2):
            started = time.perf_counter()
            response = client.post("/predict", content=body)
            timings.append((time.perf_counter() - started) * 1e3)
            if response.status_code != 200 or len(response.json()["predictions"]) != size:
                raise SystemExit(f"batch of {size} failed: {response.status_code} {response.text[:200]}")
    return timings[2:]  # the first two warm up


def compare_with_mage(serving_p50_ms: float, repeats: int = 3) -> None:
    """Time the same one-player request through Mage's API trigger (needs the stack from `make demo`)."""
    from bench_online_mage import PIPELINE, TRIGGER, one_player, through_trigger

    from machine_learning.orchestration import MageClient
    from machine_learning.settings import load_settings

    try:
        settings = load_settings()
        mage = MageClient(settings)
        trigger = mage.find_trigger(PIPELINE, TRIGGER)
        times = [through_trigger(mage, trigger, one_player(), settings) for _ in range(repeats)]
    except Exception as error:  # noqa: BLE001 - a benchmark reports what it could not measure and goes on
        print(f"  Mage API trigger: not measured ({type(error).__name__}: {str(error)[:120]}); run `make demo` first")
        return
    median_ms = statistics.median(times) * 1000
    print(
        f"  same one-player request through Mage's API trigger (start -> result in S3): median {median_ms:.0f} ms "
        f"of {repeats}, {median_ms / serving_p50_ms:,.0f}x the serving API's p50"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    token, port = secrets.token_urlsafe(24), free_port()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        print("training the model on the shipped dataset ...")
        players = cache_trained_model(Path(folder))
        server = start_server(port, token, Path(folder))
        try:
            url = f"http://127.0.0.1:{port}"
            bodies = [json.dumps({"players": [player]}).encode() for player in players[:5000]]
            print(f"load: one player per request, {args.rate:.0f} req/s for {args.seconds:.0f} s, one server worker")
            result = asyncio.run(fixed_rate_load(port, token, bodies, args.rate, args.seconds))
            print(
                f"  requests {result['requests']:.0f} at {result['achieved_rate']:.1f}/s, "
                f"errors {result['errors']:.0f} {result['error_kinds'] or ''}"
            )
            print(
                "  latency ms: p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f}  max {max:.2f}  mean {mean:.2f}".format(
                    **result
                )
            )
            for size in (1000, 10_000):
                timings = batch_latency(url, token, players, size, repeats=10 if size == 1000 else 3)
                print(f"  {size:>6} players in one request: median {statistics.median(timings):.1f} ms, "
                      f"min {min(timings):.1f}, max {max(timings):.1f}")  # fmt: skip
            compare_with_mage(result["p50"])
        finally:
            server.terminate()
            server.wait(timeout=20)
    print("targets: p50 <= 2 ms, p99 <= 10 ms, 0 errors at 200 req/s; 1,000 players <= 30 ms")


if __name__ == "__main__":
    main()
