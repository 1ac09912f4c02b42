from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "real"
GFW_REGR = REAL / "gfw_gpsdio_segment" / "regr_2021-01"
GFW_MASTER = REAL / "gfw_gpsdio_segment" / "master_fixtures"
NMEA = REAL / "nmea"

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def pytest_configure(config):
    if not REAL.exists():
        raise pytest.UsageError(f"{REAL} is missing: the tests run against ../shared/data beside the project")


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory) -> Path:
    """One cache for the whole run (``DARKVOYAGE_CACHE``, shared by the xdist workers and the
    commands tests start): the default reference set is simulated once per run, not once per
    MLflow store; never the cache of the machine's user, so every run builds it afresh."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "darkvoyage-cache"
    os.environ["DARKVOYAGE_CACHE"] = str(root)
    return root


@pytest.fixture(scope="session")
def gaz():
    from features.gazetteer import load_gazetteer
    return load_gazetteer()


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    return sorted(GFW_REGR.glob("*.json")) + sorted(GFW_MASTER.glob("*.json")) + sorted(NMEA.glob("*.txt"))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> dict:
    """One small labelled training world (160 vessels x 24 days, seed 5), simulated once for
    every module that trains on it; tests write their variants (shuffled labels) elsewhere."""
    from training.simulator import SimConfig, simulate, write_scenario
    return write_scenario(simulate(SimConfig(vessels=160, days=24, seed=5, suspicious_share=0.2)),
                          tmp_path_factory.mktemp("small_world"))
