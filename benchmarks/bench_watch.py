"""``darkvoyage watch`` on a store that already holds weeks of a fleet (issue #25: a day of a
1,000-vessel fleet into a store holding 60 days, target <= 30 s), on SQLite and on PostgreSQL,
in the same run.

Usage: python benchmarks/bench_watch.py [--vessels 1000] [--days 60] [--model tests/golden/model]

A simulated fleet of ``--vessels`` over ``--days`` + 1 days, one Parquet file per UTC day
(cached in the bench folder). Per database: one ``watch`` run adds the first ``--days`` files
(set-up, timed too), then the next day is added and timed as a user runs it (the CLI, start-up
included). Prints one JSON line per database: seconds of the day's run, of the set-up, rows of
the day, vessels rescored, alerts, and the store's size (SQLite file, or PostgreSQL's database).
The PostgreSQL server is a fresh local one (Debian's ``postgresql``), as the tests start it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import DARKVOYAGE, bench_folder  # noqa: E402


def day_files(vessels: int, days: int) -> list[Path]:
    """The fleet's days, one file each (simulated once, then reused)."""
    folder = bench_folder() / f"watch_{vessels}x{days + 1}"
    files = sorted(folder.glob("day*.parquet"))
    if len(files) == days + 1:
        return files
    from training.simulator import SimConfig, simulate, write_scenario
    folder.mkdir(exist_ok=True)
    sc = write_scenario(simulate(SimConfig(vessels=vessels, days=days + 1, seed=61, suspicious_share=0.1)), folder)
    pos = pd.read_parquet(sc["positions"])
    for k, (_, g) in enumerate(pos.groupby(pos["timestamp"].dt.floor("D"))):
        g.to_parquet(folder / f"day{k:03d}.parquet", index=False)
    return sorted(folder.glob("day*.parquet"))[:days + 1]


def run(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run([str(DARKVOYAGE), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return time.perf_counter() - t, r.stdout


def figure(text: str, name: str) -> int:
    m = re.search(rf"{name}\s+([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else -1


def one(db: str, files: list[Path], model: str) -> dict:
    setup_s, _ = run(["watch", *map(str, files[:-1]), "--store", db, "--model", model])
    day_s, out = run(["watch", str(files[-1]), "--store", db, "--model", model])
    return {"setup_seconds": round(setup_s, 1), "day_seconds": round(day_s, 1),
            "day_rows": len(pd.read_parquet(files[-1], columns=["mmsi"])),
            "vessels_rescored": figure(out, "vessels rescored"),
            "alerts": sum(figure(out, f"alerts: {k}") for k in ("new_on_list", "risk_up", "new_event"))}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vessels", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--model", default=str(ROOT / "tests" / "golden" / "model"))
    a = ap.parse_args(argv)
    files = day_files(a.vessels, a.days)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "desk.db"
        res = {"database": "sqlite", "vessels": a.vessels, "store_days": a.days, **one(str(db), files, a.model),
               "store_mb": round(db.stat().st_size / 2**20)}
        print(json.dumps(res), flush=True)
        out.append(res)
    from tests.postgres import postgres_server
    with postgres_server() as url:
        res = {"database": "postgresql", "vessels": a.vessels, "store_days": a.days, **one(url, files, a.model)}
        import psycopg
        with psycopg.connect(url) as conn:
            res["store_mb"] = round(conn.execute("SELECT pg_database_size('postgres')").fetchone()[0] / 2**20)
        print(json.dumps(res), flush=True)
        out.append(res)
    return out


if __name__ == "__main__":
    main()
