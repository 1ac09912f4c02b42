"""Speed and memory of ``darkvoyage events`` against ``darkvoyage features`` on the same synthetic
file, in the same run (issue #14: events at most 1.5 x the features command's time, <= 3 GB).

Usage: python benchmarks/bench_events.py [--rows 10000000] [--repeat 2]

Prints one JSON line per size: rows, events and features seconds (best of --repeat, whole
command incl. start-up, the two alternating so machine noise hits both alike), their ratio,
each command's peak resident memory (MB) and the events written per kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import DARKVOYAGE, bench_folder, ensure_data, run_timed  # noqa: E402


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args(argv)
    folder = bench_folder()
    results = []
    for rows in a.rows:
        data = ensure_data(rows, folder)
        # Own output names: other benchmarks write voyages_<rows>.parquet in the same folder.
        ev_out, ft_out = folder / f"events_{rows}.parquet", folder / f"events_bench_voyages_{rows}.parquet"
        ev, ft = [], []
        for _ in range(a.repeat):
            ft.append(run_timed([str(DARKVOYAGE), "features", str(data), "--out", str(ft_out)])[:2])
            ev.append(run_timed([str(DARKVOYAGE), "events", str(data), "--out", str(ev_out)])[:2])
        kinds = pd.read_parquet(ev_out, columns=["kind"])["kind"].value_counts().to_dict()
        res = {"rows": rows, "events_seconds": round(min(ev)[0], 2), "features_seconds": round(min(ft)[0], 2),
               "ratio": round(min(ev)[0] / min(ft)[0], 2), "events_peak_mb": round(max(p for _, p in ev)),
               "features_peak_mb": round(max(p for _, p in ft)), "events": kinds,
               "all_events_seconds": [round(s, 2) for s, _ in ev], "all_features_seconds": [round(s, 2) for s, _ in ft]}
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


if __name__ == "__main__":
    main()
