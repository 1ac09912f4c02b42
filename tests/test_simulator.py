"""Honesty checks of the simulator: determinism, water, labels on the planted events, no
leakage through non-behaviour attributes, and benign ships that look suspicious too."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.geo import haversine_km
from training.geography import load_geography
from training.simulator import SimConfig, simulate, write_scenario

DARK = {"dark_approach", "dark_call_oab", "dark_volga", "dark_loiter", "sts"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    sc = simulate(SimConfig(vessels=600, days=24, seed=11))
    paths = write_scenario(sc, out)
    return sc, paths


@pytest.fixture(scope="module")
def labelled(scenario):
    from features.pipeline import run_features
    from training.labels import assign_labels, read_labels
    sc, paths = scenario
    v, _ = run_features([paths["positions"]])
    return assign_labels(v, read_labels(paths["labels"]))


def _digest(folder) -> dict:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in ("positions.parquet", "labels.csv", "vessels.csv")}


def test_same_seed_same_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, 3), (b, 3), (c, 4)):
        write_scenario(simulate(SimConfig(vessels=30, days=6, seed=seed)), folder)
    assert _digest(a) == _digest(b)
    assert _digest(a)["positions.parquet"] != _digest(c)["positions.parquet"]


def test_outputs_follow_the_contract(scenario):
    from features.pipeline import run_tracks
    sc, paths = scenario
    pos = sc.positions
    assert list(pos.columns[:4]) == ["mmsi", "timestamp", "lat", "lon"]
    assert {"sog", "cog", "heading", "nav_status", "name", "imo", "ship_type", "destination", "draught",
            "receiver_type"} <= set(pos.columns)
    assert set(pos["receiver_type"].astype(str)) == {"terrestrial", "satellite"}
    lab = pd.read_csv(paths["labels"])
    assert list(lab.columns) == ["mmsi", "start", "end", "label", "behaviour", "source", "note"]
    assert set(lab["label"]) == {"suspicious", "benign"} and lab["behaviour"].notna().all()
    ves = pd.read_csv(paths["vessels"])
    assert {"mmsi", "imo", "name", "flag", "ship_type", "length", "profile"} <= set(ves.columns)
    # Our own reader accepts every simulated row.
    tr = run_tracks([paths["positions"]])
    assert tr.counts.read == len(pos) and tr.counts.rejected.get("unparseable row", 0) == 0


def test_positions_at_sea_are_on_water(scenario):
    sc, _ = scenario
    geo = load_geography()
    gaz = geo.gaz
    pos = sc.positions
    lat, lon = pos["lat"].to_numpy(), pos["lon"].to_numpy()
    near_port = np.zeros(len(pos), bool)
    for i in range(gaz.n):  # inside a port's exit radius the harbour may sit on GSHHG land
        near_port |= haversine_km(lat, lon, gaz.lat[i], gaz.lon[i]) <= gaz.radius_km[i] * 4 / 3
    at_sea = ~near_port & ~geo.in_channel(lat, lon)
    assert at_sea.mean() > 0.4
    wet = geo.on_water(lat[at_sea], lon[at_sea])
    assert wet.all(), f"{int((~wet).sum())} positions at sea on land, e.g. {lat[at_sea][~wet][:3]}, {lon[at_sea][~wet][:3]}"


def test_labels_contain_their_planted_dark_event(scenario):
    sc, _ = scenario
    pos = sc.positions.sort_values(["mmsi", "timestamp"])
    t = pos["timestamp"]
    lab = sc.labels[(sc.labels["label"] == "suspicious") & sc.labels["behaviour"].isin(DARK)]
    assert len(lab) >= 20
    for r in lab.itertuples():
        p = t[(pos["mmsi"] == r.mmsi) & (t >= r.start) & (t <= r.end)]
        gaps_h = p.diff().dt.total_seconds().fillna(0) / 3600
        edge = max((p.min() - r.start).total_seconds(), (r.end - p.max()).total_seconds(), 0) / 3600 if len(p) else 99
        assert max(gaps_h.max() if len(p) else 0, edge) >= 6, (r.mmsi, r.behaviour, r.start)


def test_no_single_non_behaviour_attribute_separates_the_classes(scenario):
    sc, _ = scenario
    ves = sc.vessels.copy()
    ves["y"] = (ves["profile"] != "benign").astype(int)
    pos = sc.positions.sort_values(["mmsi", "timestamp"])
    dt = pos.groupby("mmsi")["timestamp"].diff().dt.total_seconds()
    moving = pos["sog"] > 1
    rate = dt[(dt < 3600) & moving].groupby(pos["mmsi"]).median()
    speed = pos.loc[moving].groupby("mmsi")["sog"].median()
    ves["report_s"] = ves["mmsi"].map(rate)
    ves["speed"] = ves["mmsi"].map(speed)
    aucs = {}
    for col in ("flag", "ship_type", "length", "built", "report_s", "speed"):
        x = ves[col]
        if x.dtype == object or col in ("flag", "ship_type"):
            # Out-of-fold suspicious rate per category: what a model could learn from it.
            enc = np.zeros(len(ves))
            fold = np.arange(len(ves)) % 5
            for k in range(5):
                rate = ves[fold != k].groupby(col)["y"].mean()
                enc[fold == k] = ves.loc[fold == k, col].map(rate).fillna(ves["y"].mean())
            x = pd.Series(enc, index=ves.index)
        x = x.fillna(x.median())
        auc = roc_auc_score(ves["y"], x)
        aucs[col] = max(auc, 1 - auc)
    assert all(a <= 0.65 for a in aucs.values()), aucs
    # Most Russian- and Iranian-flagged ships are benign.
    assert ves.loc[ves["flag"].isin(["RU", "IR"]), "y"].mean() < 0.2


def test_benign_ships_go_dark_too(labelled):
    ben = labelled[labelled["y"] == 0]
    susp = labelled[labelled["y"] == 1]
    assert len(ben) > 1000 and len(susp) > 30
    assert (ben["max_gap_h"] >= 12).mean() >= 0.01        # hard negatives exist
    assert int(ben["oab"].sum()) >= 20                     # supply boats and others return home
    assert (ben["dc_sensitive_feasible"] > 0).sum() >= 10   # benign gaps where a call would fit
    assert (susp["max_gap_h"] >= 12).mean() > (ben["max_gap_h"] >= 12).mean() * 5
