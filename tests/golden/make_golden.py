"""Saves the outputs of ``tracks``, ``features`` and ``watchlist`` that ``tests/test_golden.py``
compares against: run it only when a change is *meant* to change an answer, and say which in
the commit and the changelog.

    uv run python tests/golden/make_golden.py

Inputs: every real file the tests use (``../shared/data/real``) and a simulated month (120
vessels x 30 days, seed 11). Voyage tables and watchlists are saved whole; tracked positions
(1.1 M rows for the month) as one digest per column. The watchlist uses the model saved in ``golden/model``
(a model trained once on a small world, kept so the comparison does not depend on training).
``--model`` trains that model again first (the tests' small world, 160 vessels x 24 days, seed
5, in a throw-away store): only when the simulator or the feature code changed what a model
learns from, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
MONTH = {"vessels": 120, "days": 30, "seed": 11}


def real_files() -> list[Path]:
    g = REAL / "gfw_gpsdio_segment"
    return (sorted((g / "regr_2021-01").glob("*.json")) + sorted((g / "master_fixtures").glob("*.json"))
            + sorted((REAL / "nmea").glob("*.txt")))


def simulate_month(folder: Path) -> Path:
    from training.simulator import SimConfig, simulate, write_scenario
    return write_scenario(simulate(SimConfig(**MONTH)), folder)["positions"]


def run(*args) -> None:
    exe = Path(sys.executable).parent / "darkvoyage"
    res = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise SystemExit(f"darkvoyage {' '.join(map(str, args[:1]))} failed: {res.stderr}")


def column_digests(frame: pd.DataFrame) -> dict[str, str]:
    """One SHA-256 per column of the values in row order (floats bit for bit)."""
    return {c: hashlib.sha256(pd.util.hash_pandas_object(frame[c], index=False).to_numpy().tobytes()).hexdigest()[:16]
            for c in frame.columns}


def outputs(work: Path, month: Path, model: Path, command=run) -> dict[str, Path]:
    """Runs the three commands on both inputs (each through ``command``: by default the console
    script); returns the written files by name."""
    out = {}
    for name, inputs in (("real", real_files()), ("month", [month])):
        out[f"{name}_tracks"] = work / f"{name}_tracks.parquet"
        out[f"{name}_features"] = work / f"{name}_features.parquet"
        out[f"{name}_watchlist"] = work / f"{name}_watchlist.csv"
        command("tracks", *inputs, "--out", out[f"{name}_tracks"])
        command("features", *inputs, "--out", out[f"{name}_features"])
        command("watchlist", *inputs, "--out", out[f"{name}_watchlist"], "--model", model)
    return out


def train_model(dest: Path) -> None:
    """Train the golden model on the tests' small world and save it (an MLflow model folder)."""
    import os
    import shutil
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        import mlflow
        from training.simulator import SimConfig, simulate, write_scenario
        from training.train import train
        world = write_scenario(simulate(SimConfig(vessels=160, days=24, seed=5, suspicious_share=0.2)), Path(tmp) / "world")
        s = train([world["positions"]], world["labels"], experiment="golden", promote="force")
        shutil.rmtree(dest, ignore_errors=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/voyage-risk/{s['model_version']}", dst_path=str(dest))
        for extra in ("pyproject.toml", "uv.lock"):  # MLflow's copies of the project's: not needed to load
            (dest / extra).unlink(missing_ok=True)


def main() -> None:
    if "--model" in sys.argv[1:]:
        train_model(HERE / "model")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        month = simulate_month(work / "month")
        files = outputs(work, month, HERE / "model")
        digests = {}
        for name, path in files.items():
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
            if name.endswith("_tracks"):
                digests[name] = {"rows": len(frame), "columns": column_digests(frame)}
            elif path.suffix == ".parquet":
                frame.to_parquet(HERE / f"{name}.parquet")
            else:
                frame.to_csv(HERE / f"{name}.csv", index=False)
        (HERE / "digests.json").write_text(json.dumps(digests, indent=1) + "\n")


if __name__ == "__main__":
    main()
