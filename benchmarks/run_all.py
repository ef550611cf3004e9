"""Run every benchmark (`benchmarks/bench_*.py`), each in its own process (so each reports its own
peak memory), and print one JSON object: {"benchmarks": {name: result}, ...}. `make bench` runs this.

    python benchmarks/run_all.py [--only classifier detectors] [--timeout 1800]

A benchmark whose material is missing (no ../shared) reports {"skipped": true, "reason": ...};
one that fails is reported under "failed" with the end of its stderr, and the others still run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def last_json_object(text: str) -> dict:
    """The JSON object a benchmark printed (the last one, if it printed several)."""
    decoder = json.JSONDecoder()
    found = None
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found = obj
        i = text.find("{", end)
    if found is None:
        raise ValueError("printed no JSON object")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="benchmark names (file name without bench_ and .py)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds per benchmark (the long-footage one writes and analyses 40 minutes of 1080p)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem[len("bench_"):] in args.only]
    started = time.perf_counter()
    results, failed = {}, {}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    for script in scripts:
        name = script.stem[len("bench_"):]
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, env=env, capture_output=True,
                                  text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            failed[name] = f"timed out after {args.timeout:.0f} s"
            continue
        sys.stderr.write(proc.stderr[-4000:])
        try:
            if proc.returncode != 0:
                raise ValueError(f"exit status {proc.returncode}")
            results[name] = last_json_object(proc.stdout)
            results[name].setdefault("wall_time_s", round(time.perf_counter() - t0, 1))
        except ValueError as exc:
            failed[name] = f"{exc}: {proc.stderr.strip()[-1500:]}"
    print(json.dumps({"benchmarks": results, "failed": failed,
                      "wall_time_s": round(time.perf_counter() - started, 1)}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
