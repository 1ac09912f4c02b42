"""The Spark engine on one machine against the local engine and the numpy yardstick, on the same
synthetic file, in the same run: ``darkvoyage features DATA --engine spark --spark-master
local[N]`` versus ``darkvoyage features DATA``; with ``--watchlist`` also ``darkvoyage watchlist
DATA --model tests/golden/model`` on both engines (one more JSON line per size, ``command``
``watchlist``; the yardstick is the same).

Usage: python benchmarks/bench_spark.py [--rows 10000000] [--master local[2]] [--repeat 1] [--watchlist] [--events]
[--skip-features]

``--events``: also ``darkvoyage events`` on both engines (one more JSON line, ``command``
``events``, with ``equal``: the two event tables read back equal).

Prints one JSON line per size: rows, seconds (whole command incl. Spark's start-up), rows_per_s,
peak_mb (largest total resident memory of the command's process tree: the CLI, Spark's JVM and
its Python workers, sampled every 0.2 s), the local engine's figures and the yardstick's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
MODEL = Path(__file__).resolve().parent.parent / "tests" / "golden" / "model"
from bench_features import DARKVOYAGE, bench_folder, ensure_data, yardstick_rows_per_s  # noqa: E402


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (Linux /proc)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/statm") as fh:
                rss[int(d)] = int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    keep, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in keep]
        keep.update(kids)
        frontier += kids
    return sum(rss.get(p, 0) for p in keep) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_tree(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of the whole process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    secs = time.perf_counter() - t0
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return secs, peak[0]


def _figures(command: str, rows: int, master: str, spark: list, local: list, yard: list) -> dict:
    s, loc = min(spark), min(local)
    return {"command": command, "rows": rows, "engine": "spark", "master": master, "seconds": round(s[0], 2),
            "rows_per_s": round(rows / s[0]), "peak_mb": round(max(p for _, p in spark)),
            "local_seconds": round(loc[0], 2), "local_rows_per_s": round(rows / loc[0]),
            "local_peak_mb": round(max(p for _, p in local)),
            "spark_vs_local": round(loc[0] / s[0], 3),
            "yardstick_rows_per_s": max(yard), "ratio_to_yardstick": round(rows / s[0] / max(yard), 3)}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--watchlist", action="store_true", help="also time `watchlist` on both engines")
    ap.add_argument("--events", action="store_true", help="also time `events` on both engines (outputs compared)")
    ap.add_argument("--skip-features", action="store_true", help="time only the commands asked for besides")
    a = ap.parse_args(argv)
    folder = bench_folder()
    exe = str(DARKVOYAGE)
    spark_args = ["--engine", "spark", "--spark-master", a.master]
    results = []
    for rows in a.rows:
        data = ensure_data(rows, folder)
        runs: dict[str, list] = {k: [] for k in ("spark", "local", "wl_spark", "wl_local", "ev_spark", "ev_local")}
        yard = []
        for _ in range(a.repeat):
            yard.append(yardstick_rows_per_s(data))
            if not a.skip_features:
                runs["local"].append(run_tree([exe, "features", str(data), "--out", str(folder / f"voyages_{rows}.parquet")]))
                runs["spark"].append(run_tree([exe, "features", str(data), "--out",
                                               str(folder / f"voyages_spark_{rows}.parquet"), *spark_args]))
            if a.events:
                ev = [exe, "events", str(data), "--out"]
                runs["ev_local"].append(run_tree([*ev, str(folder / f"events_local_{rows}.parquet")]))
                runs["ev_spark"].append(run_tree([*ev, str(folder / f"events_spark_{rows}.parquet"), *spark_args]))
            if a.watchlist:
                wl = [exe, "watchlist", str(data), "--model", str(MODEL), "--out"]
                runs["wl_local"].append(run_tree([*wl, str(folder / f"watchlist_{rows}.csv")]))
                runs["wl_spark"].append(run_tree([*wl, str(folder / f"watchlist_spark_{rows}.csv"), *spark_args]))
        got = [] if a.skip_features else [_figures("features", rows, a.master, runs["spark"], runs["local"], yard)]
        if a.events:
            import pandas as pd
            same = pd.read_parquet(folder / f"events_local_{rows}.parquet").equals(
                pd.read_parquet(folder / f"events_spark_{rows}.parquet"))
            got.append({**_figures("events", rows, a.master, runs["ev_spark"], runs["ev_local"], yard), "equal": same})
        if a.watchlist:
            got.append(_figures("watchlist", rows, a.master, runs["wl_spark"], runs["wl_local"], yard))
        for res in got:
            print(json.dumps(res), flush=True)
        results += got
    return results

if __name__ == "__main__":
    main()
