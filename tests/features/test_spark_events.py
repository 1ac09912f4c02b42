"""``darkvoyage events --engine spark`` equals the local engine's events, row for row and value
for value: on the real files and on a simulated month whose encounters and rendezvous pair
vessels of different MMSI buckets (each bucket is one pandas frame on the workers; the pairs
are found from every bucket's episodes and resampled fixes)."""

from __future__ import annotations


import pandas as pd
import pytest

from features import schema as S
from features.engine import LocalEngine
from features.spark import SparkEngine
from features.spark.session import buckets

from ..helpers import invoke
from .conftest import MASTER  # the fixtures spark and month live there, shared with test_spark.py


def _bucket(spark, mmsi: pd.Series) -> pd.Series:
    """Each MMSI's bucket, as the engine computes it."""
    from features.spark.session import mmsi_bucket
    df = spark.createDataFrame(pd.DataFrame({"mmsi": mmsi.astype("int64").unique()}))
    got = df.select("mmsi", mmsi_bucket(spark).alias("b")).toPandas()
    return mmsi.map(dict(zip(got["mmsi"], got["b"])))


@pytest.fixture(scope="module")
def local_month(month, gaz):
    return LocalEngine().events([month], gaz=gaz).events


def test_real_files_events_equal_local(spark, real_files, gaz):
    local = LocalEngine().events(real_files, gaz=gaz)
    run = SparkEngine(MASTER).events(real_files, gaz=gaz)
    assert (local.events["kind"] == "gap").sum() > 100
    pd.testing.assert_frame_equal(run.events, local.events)
    assert run.counts.to_dict() == local.counts.to_dict()


def test_simulated_month_events_equal_local(spark, month, local_month):
    local = local_month
    spk = SparkEngine(MASTER).events([month]).events
    pd.testing.assert_frame_equal(spk, local)
    # The month has every two-vessel kind, and pairs across buckets: found only because the
    # pairing runs over every bucket's episodes and resampled fixes together.
    two = local[local["kind"].isin(["encounter", "dark_rendezvous"])]
    assert set(two["kind"]) == {"encounter", "dark_rendezvous"} and buckets(spark) > 1
    across = _bucket(spark, two["mmsi"]).to_numpy() != _bucket(spark, two["partner_mmsi"]).to_numpy()
    assert across.sum() >= 1 and set(two.loc[across, "kind"]) == {"encounter", "dark_rendezvous"}
    assert {"gap", "loitering", "possible_dark_port_call", "shared_mmsi"} <= set(local["kind"])


def test_cli_events_engine_spark(spark, month, local_month, gaz, tmp_path):
    """Through the CLI: the events file as the local engine's table, the rejected rows as the
    local engine's (the writer is shared with the local command, so one format shows it)."""
    out = tmp_path / "ev.parquet"
    r = invoke("events", month, "--out", out, "--engine", "spark", "--spark-master", MASTER)
    assert r.returncode == 0, r.stderr
    assert "events: dark_rendezvous" in r.stdout and "rejected rows" in r.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out), local_month)
    rej = pd.read_csv(str(out) + ".rejected.csv")
    local_rej = LocalEngine().tracked([month], gaz).rejected
    assert len(rej) == len(local_rej) and sorted(rej["reason"]) == sorted(local_rej[S.REASON_COL].astype(str))
