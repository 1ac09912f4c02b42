"""Properties: row order and file splitting change nothing; every row is accounted for."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import DEFAULT
from features.io import track_positions_table
from features.engine import LocalEngine
from features.pipeline import run_tracks

from ..helpers import T0, chain, end_of, sail, stay

ANZALI = (37.4667, 49.4667)


def _base() -> pd.DataFrame:
    m1, m2, m3 = 273000001, 422000002, 273999999
    berth = stay(m1, T0, *ANZALI, hours=8)
    leg = sail(m1, end_of(berth) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0)])
    leg = leg[(leg["timestamp"] < leg["timestamp"].iloc[40]) | (leg["timestamp"] > leg["timestamp"].iloc[200])]
    other = sail(m2, T0, [(40.0, 51.0), (41.0, 51.5)], every_min=4)
    shared_a = sail(m3, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=5)
    shared_b = sail(m3, T0 + pd.Timedelta(seconds=90), [(43.5, 50.0), (43.0, 49.8)], every_min=5)
    dup = other.iloc[3:6].assign(timestamp=lambda d: d["timestamp"] + pd.Timedelta(seconds=3))
    df = chain(berth, leg, other, shared_a, shared_b, dup)
    df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    junk = pd.DataFrame({"mmsi": ["12", "273000001", "273000001", "x"],
                         "timestamp": ["2024-03-01T01:00:00Z", "nonsense", "2024-03-01T02:00:00Z", "2024-03-01T02:00:00Z"],
                         "lat": [40.0, 40.0, 91.0, 40.0], "lon": [50.0, 50.0, 181.0, 50.0], "sog": [1, 1, 1, 1]})
    return pd.concat([df, junk], ignore_index=True)


BASE = _base()


def _run(paths):
    run = LocalEngine().features(paths)
    voyages, tr = run.voyages, run.tracks
    v = voyages.sort_values("voyage_id").reset_index(drop=True)
    pos = tr.positions[["mmsi", "timestamp", "lat", "lon", "track_no", "voyage_no", "port_idx"]]
    return v, pos.reset_index(drop=True), tr.counts


def _write(df: pd.DataFrame, folder, parts: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[order]
    paths = []
    for k, chunk in enumerate(np.array_split(np.arange(len(shuffled)), parts)):
        p = folder / f"part{seed}_{parts}_{k}.csv"
        shuffled.iloc[chunk].to_csv(p, index=False)
        paths.append(p)
    return paths


def test_baseline_has_every_family(tmp_path):
    v, pos, counts = _run(_write(BASE, tmp_path, 1, 0))
    assert counts.balanced and counts.rejected == {"duplicate message": 3, "invalid MMSI": 2,
                                                    "unparseable timestamp": 1, "position not available (91/181)": 1}
    assert set(v["origin_port"].dropna()) == {"IRBAZ"} and (v["max_gap_h"] > 5).any()
    assert (v["n_tracks_mmsi"] == 2).sum() == 2


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), parts=st.integers(1, 4))
def test_row_order_and_file_splitting_do_not_change_the_output(tmp_path, seed, parts):
    ref_v, ref_pos, ref_counts = _run(_write(BASE, tmp_path, 1, 0))
    v, pos, counts = _run(_write(BASE, tmp_path, parts, seed))
    pd.testing.assert_frame_equal(v, ref_v)
    pd.testing.assert_frame_equal(pos, ref_pos)
    assert counts.to_dict() == ref_counts.to_dict()


cell = st.one_of(st.none(), st.text(max_size=6), st.integers(-10**10, 10**10),
                 st.floats(allow_nan=True, allow_infinity=True))
mmsi = st.one_of(cell, st.integers(200_000_000, 799_999_999))
stamp = st.one_of(cell, st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                                     max_value=pd.Timestamp("2030-01-01").to_pydatetime()).map(lambda d: d.isoformat()))
coord = st.one_of(cell, st.floats(-200, 200), st.sampled_from([91.0, 181.0, 0.0]))
row = st.tuples(mmsi, stamp, coord, coord, st.one_of(cell, st.floats(0, 120)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=60), extra_bad_lines=st.integers(0, 3))
def test_every_row_is_accepted_or_rejected_with_a_reason(tmp_path, rows, extra_bad_lines):
    path = tmp_path / "fuzz.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["mmsi", "timestamp", "lat", "lon", "sog"])
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
        for _ in range(extra_bad_lines):
            fh.write("1,2,3,4,5,6,7\n")
    tr = run_tracks([path])
    c = tr.counts
    assert c.read == len(rows) + extra_bad_lines
    assert c.read == c.positions + c.static + sum(c.rejected.values())
    assert len(tr.rejected) == sum(c.rejected.values())
    assert tr.rejected["_reason"].notna().all()
    table = track_positions_table(tr, __import__("features.gazetteer", fromlist=["x"]).load_gazetteer())
    assert len(table) == c.positions


def test_voyage_features_in_batches_of_vessels_equal_one_pass(tmp_path):
    from features.gazetteer import load_gazetteer
    from features.pipeline import build_coverage, vessel_voyages
    tr = run_tracks(_write(BASE, tmp_path, 1, 0))
    gaz = load_gazetteer()
    grid = build_coverage(tr.positions)
    whole = vessel_voyages(tr.positions, gaz, coverage=grid)
    batched = vessel_voyages(tr.positions, gaz, coverage=grid, batch_rows=50)
    assert tr.positions["mmsi"].nunique() >= 3
    pd.testing.assert_frame_equal(whole, batched)


def test_per_vessel_function_keeps_every_row_and_needs_no_other_vessel(tmp_path):
    """split_tracks is frame -> frames: run per MMSI group (as the Spark engine does) it keeps
    every row and gives the same tracks as one pass over everything."""
    from features import schema as S
    from features.clean import validate
    from features.gazetteer import load_gazetteer
    from features.pipeline import split_tracks
    from features.readers import read_inputs
    gaz = load_gazetteer()
    rows = validate(read_inputs(_write(BASE, tmp_path, 1, 0)).frame)
    rows = rows[rows[S.REASON_COL].isna()].reset_index(drop=True)
    def per_vessel(frame):  # accepted fixes, rejected rows and static rows back in one frame
        acc, rej, static, _ = split_tracks(frame, gaz, DEFAULT)
        return pd.concat([acc, rej, static], ignore_index=True, sort=False)
    whole = per_vessel(rows)
    parts = pd.concat([per_vessel(g.reset_index(drop=True)) for _, g in rows.groupby("mmsi")], ignore_index=True)
    assert len(whole) == len(parts) == len(rows)
    key = ["mmsi", "timestamp", "lat", "lon"]
    a = whole[whole[S.REASON_COL].isna() & ~whole[S.STATIC_COL].fillna(False).astype(bool)].sort_values(key)
    b = parts[parts[S.REASON_COL].isna() & ~parts[S.STATIC_COL].fillna(False).astype(bool)].sort_values(key)
    assert (a["track_no"].to_numpy() == b["track_no"].to_numpy()).all()
    assert (a["voyage_no"].to_numpy() == b["voyage_no"].to_numpy()).all()
