"""Create or update one venv from a lock file, saying what it does and how far it is.

``make setup`` installs three venvs (four with ``make lint``), several minutes the first time. ``pip -q`` left
that silent; pip's own output is hundreds of lines. This wrapper runs pip with its full output going to a log
file and prints what a person needs: what is installed, the measured time to expect, a line per phase (collect,
install, check) with the packages counted against the lock, and the time it took. On a terminal the collect
line is rewritten in place; elsewhere (CI, a log) a line is printed at most every 30 s. On failure the last
lines of pip's log are printed with its path.

It runs with the machine's own Python before any venv exists, so it uses only the standard library: no
progress library is installed yet at that point, which is why this small reader of pip's output is kept here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

_QUIET_SECONDS = 30.0
_TAIL = 40


def count_locked(lock: Path) -> int:
    """Count the pinned packages in a lock file (``name==version`` lines)."""
    return sum(1 for line in lock.read_text().splitlines() if "==" in line and not line.lstrip().startswith("#"))


def classify(line: str) -> str | None:
    """Phase a line of pip's output belongs to: ``collect`` (one package seen), ``install`` or ``None``."""
    if line.startswith(("Collecting ", "Requirement already satisfied: ")):
        return "collect"
    if line.startswith("Installing collected packages:"):
        return "install"
    return None


class Progress:
    """Prints the phases of one install; rewrites one line on a terminal, throttles lines elsewhere."""

    def __init__(self, label: str, total: int, tty: bool) -> None:
        self.label, self.total, self.tty = label, total, tty
        self.started = time.monotonic()
        self.seen = 0
        self._last_print = 0.0
        self._installing = threading.Event()
        self._done = threading.Event()

    def elapsed(self) -> str:
        """Time since the install started, as ``1m05s``."""
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}m{seconds % 60:02d}s"

    def collected(self) -> None:
        """Count one package pip has resolved."""
        self.seen += 1
        text = f"   {self.label}: {min(self.seen, self.total)}/{self.total} packages resolved ({self.elapsed()})"
        now = time.monotonic()
        if self.tty:
            print(f"\r{text}", end="", flush=True)
        elif now - self._last_print >= _QUIET_SECONDS:
            print(text, flush=True)
            self._last_print = now

    def phase(self, text: str) -> None:
        """Print the start of a phase with the time so far."""
        prefix = "\r\033[K" if self.tty else ""
        print(f"{prefix}   {self.label}: {text} ({self.elapsed()})", flush=True)

    def installing(self) -> None:
        """Enter the install phase: pip is silent there, so a heartbeat says it still works."""
        if self._installing.is_set():
            return
        self._installing.set()
        self.phase("installing the packages (the longest step)")
        threading.Thread(target=self._heartbeat, daemon=True).start()

    def stop(self) -> None:
        """End the heartbeat."""
        self._done.set()

    def _heartbeat(self) -> None:
        interval = 1.0 if self.tty else _QUIET_SECONDS
        while not self._done.wait(interval):
            text = f"   {self.label}: still installing ({self.elapsed()})"
            print(f"\r\033[K{text}" if self.tty else text, end="" if self.tty else "\n", flush=True)


def run_pip(python: Path, args: list[str], log: Path, progress: Progress | None) -> int:
    """Run ``python -m pip ARGS``, append its output to ``log``, feed ``progress``; return pip's exit code."""
    quiet_bar = ["--progress-bar", "off"] if args[0] == "install" else []
    command = [str(python), "-m", "pip", *args, *quiet_bar, "--disable-pip-version-check"]
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in process.stdout or ():
            sink.write(line)
            kind = classify(line)
            if progress is None or kind is None:
                continue
            if kind == "collect":
                progress.collected()
            else:
                progress.installing()
        code = process.wait()
        if progress is not None:
            progress.stop()
        return code


def fail(log: Path, what: str) -> int:
    """Print the end of pip's log and a one-line error; return the exit code."""
    lines = log.read_text(errors="replace").splitlines()
    print("\n".join(lines[-_TAIL:]), file=sys.stderr)
    print(f"error: {what} failed; pip's full output is in {log}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Create the venv if needed, install the lock (and extra pip arguments), then ``pip check``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--label", required=True, help="short name shown in the progress lines")
    parser.add_argument("--expect", default="", help="measured duration to announce, e.g. 'about 3 min'")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--check", action="store_true", help="run 'pip check' afterwards")
    args = parser.parse_args(argv)

    tty = sys.stdout.isatty() and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}
    total = count_locked(args.lock)
    expect = f", {args.expect} the first time" if args.expect else ""
    print(f"installing the {args.label} venv ({args.venv}): {total} packages from {args.lock}{expect} ...", flush=True)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.log.write_text("")
    python = args.venv / "bin" / "python"
    progress = Progress(args.label, total, tty)
    if not python.exists():
        created = subprocess.run([sys.executable, "-m", "venv", str(args.venv)], capture_output=True, text=True)
        if created.returncode != 0:
            print(f"error: could not create {args.venv}: {created.stderr.strip()}", file=sys.stderr)
            return 1
    if run_pip(python, ["install", "--upgrade", "pip>=24"], args.log, None) != 0:
        return fail(args.log, "upgrading pip")
    if run_pip(python, ["install", "-r", str(args.lock)], args.log, progress) != 0:
        if tty:
            print()
        return fail(args.log, f"installing {args.lock}")
    if args.check and run_pip(python, ["check"], args.log, None) != 0:
        return fail(args.log, "pip check")
    progress.phase(f"done; pip's output is in {args.log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
