"""Fixtures the two Spark files share: they run in one xdist worker as one unit
(tests/conftest.py), so one Spark session and one simulated month serve both (each file built
its own month before: ~4 s)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Spark's Python workers run this interpreter; the driver binds to loopback only.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
#: The tests' Spark master: two cores, as the machines the suite runs on have.
MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark():
    from features.spark import session
    s = session(MASTER)
    yield s
    s.conf.unset("spark.sql.files.maxPartitionBytes")


@pytest.fixture(scope="session")
def month(tmp_path_factory) -> Path:
    from training.simulator import SimConfig, simulate, write_scenario
    out = tmp_path_factory.mktemp("month")
    write_scenario(simulate(SimConfig(vessels=120, days=14, seed=11)), out)  # every event kind, lean
    return out / "positions.parquet"
