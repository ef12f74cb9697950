"""Print the serving API's latency beside MLflow's scoring server for the same model, in the same run.

Our server is the real one (`python -m machine_learning.serving`, one uvicorn worker) started here as a
subprocess on a free loopback port. Its model is trained here on the shipped dataset and placed in a fresh
local model cache as version 1 of production, the cache the server uses when MLflow is unreachable, so no
stack is needed. The anchor is MLflow's own scoring server (`mlflow models serve --env-manager local`, one
worker) on the same saved model, sent the same players as `dataframe_split`. `--before REF` also runs the
serving code of a git revision (e.g. `main`) on the same model, for "no worse than before" in the same run.
Requests of 1 to 10,000 players alternate between the servers; then one player per request at a fixed rate.
The load generator is open-loop: requests leave at a fixed rate whatever the answers do, and latency is
counted from the time a request was due, so a stalled server cannot hide its backlog. The load runs twice side
by side, with the prediction log off and on (``PREDICTION_LOG``, default bounds; the log writes to an S3 server
started here with scripts/stack.py), in alternating rounds, and prints the ratio of the two (target: p99 with the
log on within 10 % of off).

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
from dataclasses import dataclass
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


def start_server(
    port: int, token: str, cache: Path, code: Path | None = None, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PREDICTION_LOG": "off",
        "GAME_TITLE": TITLE,
        "SERVING_PORT": str(port),
        "SERVING_TOKEN": token,
        "MODEL_CACHE_DIR": str(cache),
        "SERVING_MAX_BODY_BYTES": "4000000",  # 10,000 players take ~3.3 MB of JSON
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nobody listens: the cache serves
        **(extra or {}),
    }
    if code is not None:  # an older revision's package first on the path
        env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-m", "machine_learning.serving"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=code)
    return wait_healthy(server, f"http://127.0.0.1:{port}/health")


def wait_healthy(server: subprocess.Popen[bytes], url: str, seconds: float = 300) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"{url} not healthy after {seconds:.0f} s")


def start_mlflow_server(port: int, model_dir: Path) -> subprocess.Popen[bytes]:
    """MLflow's scoring server for the same saved model; it execs uvicorn by name, so the venv's bin/ goes on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [
        str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "-w", "1",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    return wait_healthy(server, f"http://127.0.0.1:{port}/ping")


def stack_command(state: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/stack.py for an S3 server of this benchmark's own (moto, a free port, state in ``state``)."""
    env = {**os.environ, "LOCAL_STATE_DIR": str(state), "S3_SERVER": "moto", "S3_PORT": str(free_port()),
           "S3_BUCKET": "bench-serve"}  # fmt: skip
    command = [sys.executable, str(ROOT / "scripts" / "stack.py"), *action, "--components", "s3"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def start_s3(state: Path) -> dict[str, str]:
    """Start the S3 server the prediction log writes to; return the serving settings that point at it."""
    started = stack_command(state, "up")
    if started.returncode != 0:
        raise SystemExit(f"S3 server did not start: {(started.stdout + started.stderr)[-2000:]}")
    printed = stack_command(state, "env").stdout
    stack = dict(line[len("export ") :].split("=", 1) for line in printed.splitlines() if line.startswith("export "))
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "S3_BUCKET")
    return {name: stack[name] for name in names if name in stack}


def checkout_revision(revision: str, folder: Path) -> Path:
    """Extract the package of a git revision (e.g. ``main``) into ``folder``, to run it beside the current code."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "machine_learning"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


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
        return (await self.exchange(path, body))[0]

    async def exchange(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Send one POST and return the status code and the answer's body."""
        reader, writer = await self._connection()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Token: {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in headers if line.lower().startswith("content-length:"))
        answer = await reader.readexactly(length)
        self.idle.append((reader, writer, time.monotonic()))
        return int(headers[0].split()[1]), answer

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
        await wait_until(due)
        tasks.append(asyncio.create_task(one(due, bodies[index % len(bodies)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    await client.close()
    return {"requests": count, "elapsed": elapsed, "errors": errors, "latencies": latencies}


async def wait_until(due: float) -> None:
    """Return at ``due`` (a ``perf_counter`` time), not up to a millisecond after it.

    asyncio's timers wake late by up to a millisecond (the selector's timeout is in whole milliseconds), and a
    request that leaves late counts the generator's delay as the server's latency: measured here, that was most
    of the one-player p50. So: sleep until just before, then poll, letting the other tasks (answers) run.
    """
    while (left := due - time.perf_counter()) > 0.002:
        await asyncio.sleep(left - 0.002)
    while time.perf_counter() < due:
        await asyncio.sleep(0)


def summarise_load(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the latencies of one server's rounds into the printed figures (ms)."""
    ordered = sorted(latency for run in runs for latency in run["latencies"])
    errors: Counter[str] = sum((run["errors"] for run in runs), Counter())
    return {
        "requests": sum(run["requests"] for run in runs),
        "achieved_rate": sum(run["requests"] for run in runs) / sum(run["elapsed"] for run in runs),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        **{f"p{q}": ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3 for q in (50, 90, 99)},
        "max": ordered[-1] * 1e3,
        "mean": statistics.mean(ordered) * 1e3,
    }


@dataclass
class Target:
    """One server to time: where it listens and how its requests look."""

    name: str
    url: str
    path: str
    headers: dict[str, str]
    body: Any  # players -> bytes
    count: Any  # response JSON -> number of predictions


def our_target(name: str, url: str, token: str) -> Target:
    return Target(
        name, url, "/predict", {"X-API-Token": token, "Content-Type": "application/json"},
        lambda players: json.dumps({"players": players}).encode(), lambda answer: len(answer["predictions"]),
    )  # fmt: skip


def mlflow_target(url: str) -> Target:
    def body(players: list[dict[str, object]]) -> bytes:
        rows = [[player[name] for name in FEATURE_COLUMNS] for player in players]
        return json.dumps({"dataframe_split": {"columns": list(FEATURE_COLUMNS), "data": rows}}).encode()

    return Target("MLflow", url, "/invocations", {"Content-Type": "application/json"}, body,
                  lambda answer: len(answer["predictions"]))  # fmt: skip


def size_sweep(
    targets: list[Target], players: list[dict[str, object]], sizes: list[int]
) -> dict[int, dict[str, float]]:
    """Median latency (ms) per request size and server, the servers' requests alternating.

    Sent with :class:`RawClient` (one request at a time, the next when the answer is in): httpx costs about 1 ms
    per request and more per MB on this 2-core machine, the same for every server, which hid part of the gap
    between them. The answer is read whole before the clock stops, and checked after.
    """
    return asyncio.run(_size_sweep(targets, players, sizes))


async def _size_sweep(
    targets: list[Target], players: list[dict[str, object]], sizes: list[int]
) -> dict[int, dict[str, float]]:
    token = {t.name: t.headers.get("X-API-Token", "") for t in targets}
    clients = {t.name: RawClient(int(t.url.rsplit(":", 1)[1]), token[t.name]) for t in targets}
    medians: dict[int, dict[str, float]] = {}
    try:
        for size in sizes:
            repeats = {1: 200, 10: 100, 100: 50, 1000: 20}.get(size, 7)
            bodies = {t.name: t.body(players[:size]) for t in targets}
            timings: dict[str, list[float]] = {t.name: [] for t in targets}
            for attempt in range(repeats + 2):
                for target in targets:
                    started = time.perf_counter()
                    status, answer = await clients[target.name].exchange(target.path, bodies[target.name])
                    elapsed = (time.perf_counter() - started) * 1e3
                    if status != 200 or target.count(json.loads(answer)) != size:
                        raise SystemExit(f"{target.name}: {size} players failed: {status} {answer[:200]!r}")
                    if attempt >= 2:  # the first two warm up
                        timings[target.name].append(elapsed)
            medians[size] = {name: statistics.median(values) for name, values in timings.items()}
            row = "  ".join(f"{name} {value:8.2f}" for name, value in medians[size].items())
            print(f"  {size:>6} players: median ms  {row}", flush=True)
    finally:
        for client in clients.values():
            await client.close()
    return medians


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


def print_ratios(medians: dict[int, dict[str, float]]) -> None:
    print("\nratios (how many times faster ours is):")
    for size, row in medians.items():
        parts = [f"vs MLflow {row['MLflow'] / row['ours']:5.1f}x"]
        if "before" in row:
            parts.append(f"vs before {row['before'] / row['ours']:4.2f}x")
        print(f"  {size:>6} players per request: " + ", ".join(parts))


def run_loads(
    ports: dict[str, int], token: str, bodies: list[bytes], rate: float, seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """Load each server in turn, ``rounds`` times, so a change in the machine's load hits all of them alike."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
    for _ in range(rounds):
        for name, port in ports.items():
            runs[name].append(asyncio.run(fixed_rate_load(port, token, bodies, rate, seconds / rounds)))
    return {name: print_load_result(name, summarise_load(done)) for name, done in runs.items()}


def print_load_result(name: str, result: dict[str, Any]) -> dict[str, Any]:
    print(
        f"  {name:<8} requests {result['requests']:.0f} at {result['achieved_rate']:.1f}/s, "
        f"errors {result['errors']:.0f} {result['error_kinds'] or ''}; "
        f"latency ms: p50 {result['p50']:.2f}  p90 {result['p90']:.2f}  p99 {result['p99']:.2f}  "
        f"max {result['max']:.2f}",
        flush=True,
    )
    return result


def print_load() -> None:
    """Print the load average as the run ends: the figures above compare only with runs at a similar load."""
    one, five, fifteen = os.getloadavg()
    print(f"\nload average at the end: {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min), {os.cpu_count()} cores")


def print_request_split(players: list[dict[str, object]], version_dir: Path, sizes: tuple[int, ...]) -> None:
    """Where a big request's milliseconds go: decode, score and encode timed in this process on the same model.

    The model is loaded from the cached version the server serves (its compiled library is reused, not rebuilt).
    What the HTTP round trip adds on top is the server's median minus the sum of the three.
    """
    import mlflow.sklearn

    from machine_learning.inference.model import LoadedModel
    from machine_learning.serving.bulk import decode_request, encode_predictions

    model = LoadedModel(TITLE, "1", mlflow.sklearn.load_model(str(version_dir)), version_dir)
    predictor = model.predictor
    print(f"\nin-process split of one request, median ms ({predictor.kind} predictor):")
    for size in sizes:
        body = json.dumps({"players": players[:size]}).encode()
        times: dict[str, list[float]] = {"decode": [], "score": [], "encode": []}
        for _ in range(15):
            started = time.perf_counter()
            request = decode_request(body)
            decoded = time.perf_counter()
            probabilities = predictor.predict_proba(request.columns)
            scored = time.perf_counter()
            encode_predictions(TITLE, "1", predictor.classes, request.player_ids, probabilities)
            times["decode"].append((decoded - started) * 1e3)
            times["score"].append((scored - decoded) * 1e3)
            times["encode"].append((time.perf_counter() - scored) * 1e3)
        split = {name: statistics.median(values) for name, values in times.items()}
        parts = "  ".join(f"{name} {value:6.2f}" for name, value in split.items())
        print(f"  {size:>6} players: {parts}  sum {sum(split.values()):6.2f}")


def print_log_stats(url: str, token: str) -> None:
    """Print what the logging server's prediction log wrote and lost during the load."""
    stats = httpx.get(f"{url}/prediction-log/stats", headers={"X-API-Token": token}, timeout=10).json()
    print(
        f"  prediction log: {stats['written_rows']} predictions written in {stats['written_files']} files, "
        f"{stats['queued_rows']} waiting, {stats['lost_rows']} lost"
    )


def print_targets(medians: dict[int, dict[str, float]] | None, loads: dict[str, dict[str, Any]]) -> None:
    ours, logged = loads["ours"], loads["ours+log"]
    checks = [] if medians is None else [
        (f"1,000 players >= 5x faster than MLflow ({medians[1000]['MLflow'] / medians[1000]['ours']:.1f}x)",
         medians[1000]["MLflow"] >= 5 * medians[1000]["ours"]),
        (f"10,000 players >= 5x faster than MLflow ({medians[10_000]['MLflow'] / medians[10_000]['ours']:.1f}x)",
         medians[10_000]["MLflow"] >= 5 * medians[10_000]["ours"]),
    ]  # fmt: skip
    checks += [
        (f"one player p50 <= 1 ms ({ours['p50']:.2f})", ours["p50"] <= 1.0),
        (f"one player p99 <= 5 ms ({ours['p99']:.2f})", ours["p99"] <= 5.0),
        (f"prediction log on: p99 within 10 % of off ({logged['p99']:.2f} vs {ours['p99']:.2f} ms, "
         f"{logged['p99'] / ours['p99']:.2f}x; p50 {logged['p50'] / ours['p50']:.2f}x)",
         logged["p99"] <= 1.10 * ours["p99"]),
    ]  # fmt: skip
    if "before" in loads:
        before = loads["before"]
        checks.append(
            (f"p50/p99 no worse than before ({before['p50']:.2f}/{before['p99']:.2f})",
             ours["p50"] <= before["p50"] * 1.05 and ours["p99"] <= before["p99"] * 1.05)
        )  # fmt: skip
    print("\ntargets (printed, not asserted):")
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT met'}] {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of the load per server")
    parser.add_argument("--before", help="also run the serving code of this git revision (e.g. main)")
    parser.add_argument("--load-only", action="store_true", help="only the fixed-rate load (no MLflow, no sizes)")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    ports = {name: free_port() for name in ("ours", "ours+log", "before", "MLflow")}
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        print("training the model on the shipped dataset ...", flush=True)
        players = cache_trained_model(Path(folder))
        model_dir = Path(folder) / f"{TITLE}-engagement" / "versions" / "1"
        try:
            servers.append(start_server(ports["ours"], token, Path(folder)))
            targets = [our_target("ours", f"http://127.0.0.1:{ports['ours']}", token)]
            kind = httpx.get(f"{targets[0].url}/model-version", headers=targets[0].headers).json()["predictor"]
            s3 = start_s3(Path(folder) / "s3")
            logged = {"PREDICTION_LOG": "on", **s3}  # the default bounds: a file per 5,000 rows or 30 s
            servers.append(start_server(ports["ours+log"], token, Path(folder), extra=logged))
            loaded = ["ours", "ours+log"]
            if args.before:
                code = checkout_revision(args.before, Path(folder) / "before")
                servers.append(start_server(ports["before"], token, Path(folder), code=code))
                targets.append(our_target("before", f"http://127.0.0.1:{ports['before']}", token))
                loaded.append("before")
            medians = None
            if not args.load_only:
                servers.append(start_mlflow_server(ports["MLflow"], model_dir))
                targets.append(mlflow_target(f"http://127.0.0.1:{ports['MLflow']}"))
                print(f"servers: {', '.join(t.name for t in targets)}; ours scores with the {kind} predictor")
                medians = size_sweep(targets, players, [1, 10, 100, 1000, 10_000])
                print_ratios(medians)
                print_request_split(players, model_dir, (1000, 10_000))
            bodies = [json.dumps({"players": [player]}).encode() for player in players[:5000]]
            print(f"\nload: one player per request, {args.rate:.0f} req/s for {args.seconds:.0f} s per server in "
                  f"{args.rounds} alternating rounds, one server worker; load average {os.getloadavg()[0]:.2f}",
                  flush=True)  # fmt: skip
            chosen = {name: ports[name] for name in loaded}
            loads = run_loads(chosen, token, bodies, args.rate, args.seconds, args.rounds)
            print_log_stats(f"http://127.0.0.1:{ports['ours+log']}", token)
            print(f"  load average after the load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print_targets(medians, loads)
            if not args.load_only:
                compare_with_mage(loads["ours"]["p50"])
            print_load()
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)
            if (Path(folder) / "s3").exists():
                stack_command(Path(folder) / "s3", "down")


if __name__ == "__main__":
    main()
