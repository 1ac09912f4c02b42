"""Hand-built AIS tracks for tests: sail between waypoints at a speed, stay in place, go dark."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.geo import KM_PER_NM, haversine_km

T0 = pd.Timestamp("2024-03-01T00:00:00Z")


def km_north(lat: float, lon: float, km: float) -> tuple[float, float]:
    """The point ``km`` due north (negative: south) of (lat, lon)."""
    return lat + km / 111.195, lon


def sail(mmsi: int, start: pd.Timestamp, waypoints: list[tuple[float, float]], speed_kn: float = 10.0,
         every_min: float = 2.0) -> pd.DataFrame:
    """Fixes every ``every_min`` along straight legs between waypoints at ``speed_kn``."""
    legs = []
    t = 0.0  # hours since start
    for (la0, lo0), (la1, lo1) in zip(waypoints[:-1], waypoints[1:]):
        dist = float(haversine_km(la0, lo0, la1, lo1))
        hours = dist / (speed_kn * KM_PER_NM)
        n = max(int(hours * 60 / every_min), 1)
        f = np.arange(n) / n
        legs.append(pd.DataFrame({"h": t + f * hours, "lat": la0 + f * (la1 - la0), "lon": lo0 + f * (lo1 - lo0)}))
        t += hours
    last = waypoints[-1]
    legs.append(pd.DataFrame({"h": [t], "lat": [last[0]], "lon": [last[1]]}))
    df = pd.concat(legs, ignore_index=True)
    return pd.DataFrame({"mmsi": mmsi, "timestamp": start + pd.to_timedelta(df["h"], unit="h"),
                         "lat": df["lat"], "lon": df["lon"], "sog": speed_kn})


def stay(mmsi: int, start: pd.Timestamp, lat: float, lon: float, hours: float, every_min: float = 3.0) -> pd.DataFrame:
    n = int(hours * 60 / every_min) + 1
    return pd.DataFrame({"mmsi": mmsi, "timestamp": start + pd.to_timedelta(np.arange(n) * every_min, unit="min"),
                         "lat": lat, "lon": lon, "sog": 0.0})


def chain(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True).sort_values("timestamp", kind="stable").reset_index(drop=True)


def end_of(df: pd.DataFrame) -> pd.Timestamp:
    return df["timestamp"].max()


def go_dark(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Drop the fixes strictly between ``start`` and ``end``."""
    t = df["timestamp"]
    return df[(t <= start) | (t >= end)].reset_index(drop=True)


def write_csv(df: pd.DataFrame, path) -> str:
    out = df.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)
    return str(path)


@contextmanager
def mlflow_store(root):
    """A real MLflow store (SQLite + artifacts) in ``root`` for the duration: tests never touch
    the project's own ``mlruns/``."""
    import mlflow
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    try:
        yield root
    finally:
        mp.undo()
        mlflow.set_tracking_uri(None)


# --- a real browser --------------------------------------------------------------------------

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Debian's headless Chromium (``make test`` installs it when missing)."""
    import shutil
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: make system-deps installs Debian's chromium for this test")
    return exe


def browse(page, profile) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, its console errors) of an offline page in Chromium."""
    import subprocess
    res = subprocess.run([chromium(), *CHROME_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    return res.stdout, errors


def screenshot(page, profile, shot, size: str):
    """A PNG of the page at ``size`` ("1280,760"); returns its path."""
    import subprocess
    subprocess.run([chromium(), *CHROME_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                    "--virtual-time-budget=3000", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    return shot


def console(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """A ``darkvoyage`` command run as the console script in its own process (text output)."""
    from .servers import EXE
    return subprocess.run([EXE, *map(str, args)], env=env, capture_output=True, text=True, timeout=600)


def invoke(*args, env: dict | None = None) -> SimpleNamespace:
    """A ``darkvoyage`` command run in this process, answered as :func:`console` answers
    (returncode, stdout, stderr): no interpreter start and no second import of the stack, ~7 s
    a command saved. Tests keep one run of the console script each for what only a process
    shows (its exit, its stderr, Spark's log); ``env`` is set for the command only."""
    from typer.testing import CliRunner
    from serving.cli import app
    r = CliRunner().invoke(app, list(map(str, args)), env=env)
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.stderr, output=r.output)
