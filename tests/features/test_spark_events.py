"""``darkvoyage events --engine spark`` equals the local engine's events, row for row and value
for value: on the real files and on a simulated month whose encounters and rendezvous pair
vessels of different MMSI buckets (each bucket is one pandas frame on the workers; the pairs
are found from every bucket's episodes and resampled fixes)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from features.engine import LocalEngine
from features.spark import SparkEngine
from features.spark.session import buckets

from .test_spark import MASTER, _cli, month, spark  # noqa: F401 - module fixtures shared with that file


def _bucket(spark, mmsi: pd.Series) -> pd.Series:  # noqa: F811
    """Each MMSI's bucket, as the engine computes it."""
    from pyspark.sql import functions as F
    from features.spark.session import mmsi_bucket
    df = spark.createDataFrame(pd.DataFrame({"mmsi": mmsi.astype("int64").unique()}))
    got = df.select("mmsi", mmsi_bucket(spark).alias("b")).toPandas()
    return mmsi.map(dict(zip(got["mmsi"], got["b"])))


def test_real_files_events_equal_local(spark, real_files, gaz):  # noqa: F811
    local = LocalEngine().events(real_files, gaz=gaz).events
    run = SparkEngine(MASTER).events(real_files, gaz=gaz)
    assert (local["kind"] == "gap").sum() > 100
    pd.testing.assert_frame_equal(run.events, local)
    assert run.counts.to_dict() == LocalEngine().tracked(real_files, gaz).counts.to_dict()


def test_simulated_month_events_equal_local(spark, month, gaz):  # noqa: F811
    local = LocalEngine().events([month], gaz=gaz).events
    spk = SparkEngine(MASTER).events([month], gaz=gaz).events
    pd.testing.assert_frame_equal(spk, local)
    # The month has every two-vessel kind, and pairs across buckets: found only because the
    # pairing runs over every bucket's episodes and resampled fixes together.
    two = local[local["kind"].isin(["encounter", "dark_rendezvous"])]
    assert set(two["kind"]) == {"encounter", "dark_rendezvous"} and buckets(spark) > 1
    across = _bucket(spark, two["mmsi"]).to_numpy() != _bucket(spark, two["partner_mmsi"]).to_numpy()
    assert across.sum() >= 1 and set(two.loc[across, "kind"]) == {"encounter", "dark_rendezvous"}
    assert {"gap", "loitering", "possible_dark_port_call", "shared_mmsi"} <= set(local["kind"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_events_engine_spark(month, tmp_path, suffix):  # noqa: F811
    outs = {}
    for eng in ("local", "spark"):
        out = tmp_path / f"ev_{eng}{suffix}"
        args = ["--engine", eng] + (["--spark-master", MASTER] if eng == "spark" else [])
        r = _cli(sys.executable, "-m", "serving.cli", "events", str(month), "--out", str(out), *args)
        assert r.returncode == 0, r.stderr
        assert "events: dark_rendezvous" in r.stdout and "rejected rows" in r.stdout
        outs[eng] = out
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    pd.testing.assert_frame_equal(read(outs["spark"]), read(outs["local"]))
    rej = [pd.read_csv(str(outs[e]) + ".rejected.csv") for e in ("local", "spark")]
    assert len(rej[0]) == len(rej[1]) and sorted(rej[0]["reason"]) == sorted(rej[1]["reason"])
