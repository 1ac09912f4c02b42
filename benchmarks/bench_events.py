"""Speed and memory of ``darkvoyage events`` and ``darkvoyage identities`` against ``darkvoyage
features`` on the same synthetic file, in the same run (issue #14: events at most 1.5 x the
features command's time, <= 3 GB; issue #23: identities at most 1.5 x).

Usage: python benchmarks/bench_events.py [--rows 10000000] [--repeat 2]

Prints one JSON line per size: rows, events, identities and features seconds (best of
--repeat, whole command incl. start-up, the three alternating so machine noise hits all
alike), the ratios to features, each command's peak resident memory (MB), the events written
per kind and the identity links per level.
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
        id_out = folder / f"identities_{rows}.parquet"
        ev, ft, ids = [], [], []
        for _ in range(a.repeat):
            ft.append(run_timed([str(DARKVOYAGE), "features", str(data), "--out", str(ft_out)])[:2])
            ev.append(run_timed([str(DARKVOYAGE), "events", str(data), "--out", str(ev_out)])[:2])
            ids.append(run_timed([str(DARKVOYAGE), "identities", str(data), "--out", str(id_out)])[:2])
        kinds = pd.read_parquet(ev_out, columns=["kind"])["kind"].value_counts().to_dict()
        levels = pd.read_parquet(id_out, columns=["level"])["level"].value_counts().to_dict()
        res = {"rows": rows, "events_seconds": round(min(ev)[0], 2), "features_seconds": round(min(ft)[0], 2),
               "ratio": round(min(ev)[0] / min(ft)[0], 2), "events_peak_mb": round(max(p for _, p in ev)),
               "features_peak_mb": round(max(p for _, p in ft)), "events": kinds,
               "identities_seconds": round(min(ids)[0], 2), "identities_ratio": round(min(ids)[0] / min(ft)[0], 2),
               "identities_peak_mb": round(max(p for _, p in ids)), "links": levels,
               "all_events_seconds": [round(s, 2) for s, _ in ev], "all_features_seconds": [round(s, 2) for s, _ in ft],
               "all_identities_seconds": [round(s, 2) for s, _ in ids]}
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


if __name__ == "__main__":
    main()
