"""Speed and memory of ``darkvoyage features`` (Parquet in, voyage table out) against the numpy
yardstick in ``../shared/bench``, on the same synthetic file, in the same run.

Usage: python benchmarks/bench_features.py [--rows 1000000 10000000] [--repeat 3]

Prints one JSON line per size: rows, seconds (best of --repeat, whole command incl. start-up),
rows_per_s, peak_mb (max resident set of the command), the yardstick's rows_per_s and the
ratio ours / yardstick. Data is generated once into $TMPDIR/darkvoyage-bench.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"


def ensure_data(rows: int, folder: Path) -> Path:
    path = folder / f"ais_{rows}.parquet"
    if not path.exists():
        subprocess.run([sys.executable, str(BENCH / "gen_ais.py"), str(rows), str(path)], check=True,
                       stdout=subprocess.DEVNULL)
    return path


#: The installed CLI beside this interpreter (whole-command timings include its start-up).
DARKVOYAGE = Path(sys.executable).parent / "darkvoyage"


def bench_folder() -> Path:
    """Where generated data and outputs live between runs: $TMPDIR/darkvoyage-bench."""
    folder = Path(tempfile.gettempdir()) / "darkvoyage-bench"
    folder.mkdir(exist_ok=True)
    return folder


def yardstick_rows_per_s(data: Path) -> float:
    """The numpy yardstick of ../shared/bench on ``data``."""
    _, _, y = run_timed([sys.executable, str(BENCH / "bench_numpy.py"), str(data)])
    return json.loads(y.strip().splitlines()[-1])["rows_per_s"]


def run_timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the child, and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    out = proc.stdout.read()
    err = proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return secs, usage.ru_maxrss / 1024.0, out


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    folder = bench_folder()
    results = []
    for rows in a.rows:
        data = ensure_data(rows, folder)
        out = folder / f"voyages_{rows}.parquet"
        ours, yard = [], []
        for _ in range(a.repeat):
            # Alternate the two so that machine noise hits both alike.
            yard.append(yardstick_rows_per_s(data))
            secs, peak, _ = run_timed([str(DARKVOYAGE), "features", str(data), "--out", str(out)])
            ours.append((secs, peak))
        best = min(ours)
        res = {"rows": rows, "seconds": round(best[0], 3), "rows_per_s": round(rows / best[0]),
               "peak_mb": round(max(p for _, p in ours)), "yardstick_rows_per_s": max(yard),
               "ratio_to_yardstick": round(rows / best[0] / max(yard), 3),
               "all_seconds": [round(s, 2) for s, _ in ours]}
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


if __name__ == "__main__":
    main()
