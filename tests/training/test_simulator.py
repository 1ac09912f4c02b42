"""Honesty of the simulator: determinism, drawn worlds, water, labels for every voyage, the
planted events' truth, benign twins, correlated reception holes, and a leakage audit that
fails loudly when anything but behaviour separates the classes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.geo import haversine_km
from training.simulator.behaviours import DARK, TWINS
from training.simulator.geography import load_geography
from training.simulator import SimConfig, simulate, write_scenario
from training.simulator.truth import MIN_OBSERVABLE_H
from training.simulator.world import RANGES, draw_world

FILES = ("positions.parquet", "labels.csv", "vessels.csv", "events.csv", "world.json")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Many suspicious ships (a quarter of the fleet) so the audit has the vessels to judge."""
    sc = simulate(SimConfig(vessels=800, days=30, seed=11, suspicious_share=0.25))
    return sc, write_scenario(sc, tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def featured(scenario):
    """The scenario's positions file through the local engine, once for the module."""
    from features.engine import LocalEngine
    return LocalEngine().features([scenario[1]["positions"]])


@pytest.fixture(scope="module")
def labelled(scenario, featured):
    from training.labels import assign_labels, read_labels
    return assign_labels(featured.voyages, read_labels(scenario[1]["labels"]))


def _digest(folder: Path) -> dict:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in FILES}


def test_same_seeds_same_bytes_and_worlds_differ(tmp_path):
    runs = {"a": (3, None), "b": (3, None), "c": (3, 4), "d": (4, 3)}
    for name, (seed, world_seed) in runs.items():
        write_scenario(simulate(SimConfig(vessels=30, days=6, seed=seed, world_seed=world_seed)), tmp_path / name)
    a, b, c, d = (_digest(tmp_path / n) for n in "abcd")
    assert a == b
    assert a["world.json"] != c["world.json"] and a["positions.parquet"] != c["positions.parquet"]
    # The default world seed is the seed: seed 4 / world 3 shares seed 3's world, not its ships.
    wa, wd = (json.loads((tmp_path / n / "world.json").read_text()) for n in "ad")
    assert wa["world"] == wd["world"] and wa["world_seed"] == 3
    assert a["positions.parquet"] != d["positions.parquet"]


def test_world_values_lie_in_their_documented_ranges(scenario):
    sc, paths = scenario
    world = json.loads(Path(paths["world"]).read_text())["world"]
    for name, (lo, hi, _, _) in RANGES.items():
        assert lo <= world[name] <= hi, name
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    assert all(f"`{name}`" in doc for name in RANGES), "docs/simulator.md lacks a drawn parameter"
    worlds = [draw_world(s) for s in range(40)]
    spread = {n: np.ptp([getattr(w, n) for w in worlds]) / (RANGES[n][1] - RANGES[n][0]) for n in RANGES}
    assert min(spread.values()) > 0.5, spread  # 40 worlds cover most of every range


def test_outputs_follow_the_contract(scenario, featured):
    sc, paths = scenario
    pos = sc.positions
    assert list(pos.columns[:4]) == ["mmsi", "timestamp", "lat", "lon"]
    assert set(pos["receiver_type"].astype(str)) == {"terrestrial", "satellite"}
    lab = pd.read_csv(paths["labels"])
    assert list(lab.columns) == ["mmsi", "start", "end", "label", "behaviour", "source", "note"]
    assert set(lab["label"]) == {"suspicious", "benign"} and lab["behaviour"].notna().all()
    ev = pd.read_csv(paths["events"])
    assert {"mmsi", "partner_mmsi", "behaviour", "start", "end", "lat", "lon", "hidden_port"} <= set(ev.columns)
    counts = featured.tracks.counts  # the positions file as written, read back
    assert counts.read == len(pos) and counts.rejected.get("unparseable row", 0) == 0


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
    assert at_sea.mean() > 0.25
    wet = geo.on_water(lat[at_sea], lon[at_sea])
    # GPS interference throws the odd fix anywhere, land too; every other fix at sea is on water.
    dry_lat, dry_lon = lat[at_sea][~wet], lon[at_sea][~wet]
    jammed = np.zeros(len(dry_lat), bool)
    reach = sc.world["world"]["interference_km_max"]
    for area in sc.world["gps_interference"]["areas"]:
        jammed |= haversine_km(dry_lat, dry_lon, area["lat"], area["lon"]) <= area["radius_km"] * 1.3 + reach
    assert jammed.all(), f"{int((~jammed).sum())} positions at sea on land, e.g. {dry_lat[~jammed][:3]}, {dry_lon[~jammed][:3]}"
    assert len(dry_lat) <= 1e-4 * len(lat)


def test_every_voyage_is_labelled_even_when_cut(labelled):
    assert labelled["y"].notna().mean() > 0.99
    ends = labelled.sort_values("start").groupby("track_id")
    first, last = ends.head(1), ends.tail(1)
    cut = pd.concat([first[first["origin_port"].isna()], last[last["destination_port"].isna()]])
    assert len(cut) > 50 and cut["y"].notna().mean() > 0.98
    assert (cut["y"] == 1).sum() >= 3  # events cut by the window edge are still suspicious


def test_observable_dark_events_are_silent_in_the_data(scenario):
    sc, _ = scenario
    pos = sc.positions.sort_values(["mmsi", "timestamp"])
    ev = sc.events[sc.events["behaviour"].isin(DARK) & sc.events["visible_in_window"] & (sc.events["ais"] == "off")]
    assert len(ev) >= 40
    t_end = pos["timestamp"].max()
    silent = []
    for r in ev.itertuples():
        own = pos.loc[pos["mmsi"] == r.mmsi, "timestamp"]
        before, after = own[own <= r.start], own[own >= min(r.end, t_end)]
        last = before.max() if len(before) else r.start
        silent.append(((after.min() if len(after) else t_end) - last).total_seconds() / 3600)
    assert min(silent) >= MIN_OBSERVABLE_H - 0.1, sorted(silent)[:5]


def test_planted_events_name_ports_and_partners(scenario):
    ev = scenario[0].events
    hidden = ev.set_index("behaviour")["hidden_port"]
    assert set(hidden.loc[["dark_approach"]]) <= {"IRBAM", "IRBAZ"}
    assert set(hidden.loc[["dark_volga"]]) <= {"RUOYA", "RUASF"}
    assert set(hidden.loc[["dark_call_oab"]]) <= {"IRBAZ", "IRBAM", "IR-CASPN", "IRNEK", "IRFKR", "IRASR"}
    sts = ev[ev["behaviour"] == "sts"]
    assert len(sts) >= 4
    pairs = set(zip(sts["mmsi"], sts["partner_mmsi"].astype(int)))
    assert all((b, a) in pairs for a, b in pairs), "a rendezvous names both vessels"


def test_benign_twins_and_habits_are_everyones(scenario, labelled):
    sc, _ = scenario
    ves = sc.vessels
    twins = {t for kind in TWINS.values() for t in kind}
    assert twins <= set(sc.events["behaviour"]), twins - set(sc.events["behaviour"])
    benign = ves[ves["profile"] == "benign"]
    assert 0.25 <= (benign["habit"].fillna("") != "").mean() <= 0.45  # about a third carry a twin
    susp = ves[(ves["profile"] != "benign") & ves["kind"].isin(["general_cargo", "tanker"])]
    same_kind = benign[benign["kind"].isin(["general_cargo", "tanker"])]
    for habit in ("off_at_berth",):
        assert abs(susp[habit].mean() - same_kind[habit].mean()) < 0.1, habit
    assert abs((susp["habit"].fillna("") != "").mean() - (same_kind["habit"].fillna("") != "").mean()) < 0.12
    # Routes: benign ships sail Russia -> Russia too, and queue before sensitive ports.
    ru = ("RUASF", "RUOYA", "RUMCX", "RU-VCSC-N1")
    ben = labelled[labelled["y"] == 0]
    assert (ben["origin_port"].isin(ru) & ben["destination_port"].isin(ru)).sum() >= 30
    # Voyages that carry an event queue and wait like any other (the old simulator: 3 % of
    # suspicious voyages loitered over 2 h visibly against 19 % of benign ones).
    cargo = labelled[labelled["mmsi"].isin(ves.loc[ves["kind"].isin(["general_cargo", "tanker"]), "mmsi"])]
    rate = cargo.groupby("y")[["dest_anchorage"]].mean()
    rate["loiter_2h"] = (cargo["loiter_h"] > 2).groupby(cargo["y"]).mean()
    assert (rate.loc[1] >= 0.4 * rate.loc[0]).all(), rate


def test_feeds_as_they_are_in_both_classes(scenario, labelled):
    """Destinations as crews type them (codes, truncations, non-port entries, blanks, padding,
    stale entries), static data lost, nav status misused: the same habits for suspicious and
    benign ships of one kind, and what the text says at arrival alike for their ordinary voyages."""
    from features.destinations import reader_for
    from features.gazetteer import load_gazetteer
    sc, _ = scenario
    texts = sc.positions["destination"].astype("object").dropna().unique()
    reader = reader_for(load_gazetteer())
    kinds = pd.Series([reader.read(t).kind for t in texts]).value_counts()
    assert len(texts) >= 150 and kinds.get("non-port", 0) >= 10 and kinds.get("unknown", 0) >= 5
    assert any(t.endswith("@") for t in texts) and any(len(t) == 6 and t[2] == " " for t in texts)  # padding, codes
    assert any("-" in t and len(reader.read(t).ports) == 2 for t in texts)  # routes
    ves = sc.vessels
    cargo = ves[ves["kind"].isin(["general_cargo", "tanker"])]
    susp, ben = cargo[cargo["profile"] != "benign"], cargo[cargo["profile"] == "benign"]
    for col in ("text_update", "text_form", "nav_status_habit"):
        share = pd.concat([susp[col].value_counts(normalize=True), ben[col].value_counts(normalize=True)], axis=1).fillna(0)
        assert (share.iloc[:, 0] - share.iloc[:, 1]).abs().max() < 0.12, (col, share)
    assert abs(susp["static_lost"].mean() - ben["static_lost"].mean()) < 0.08
    assert 0.2 < ben["text_update"].eq("departure").mean() < 0.95 and ves["nav_status_habit"].ne("ok").mean() > 0.02
    # What the text says at the end of ordinary voyages: the port reached, another, or unknown.
    ordinary = labelled[(labelled["y"] == 0) & labelled["mmsi"].isin(cargo["mmsi"])].copy()
    ordinary["susp"] = ordinary["mmsi"].isin(susp["mmsi"])
    reads = ordinary.groupby("susp")["declared_reading"].value_counts(normalize=True).unstack().fillna(0)
    assert (reads.loc[True] - reads.loc[False]).abs().max() < 0.06, reads
    assert 0.1 < reads.loc[False, "other port"] < 0.5 and reads.loc[False, "unknown"] > 0.05


def test_benign_ships_go_dark_through_reception_holes(scenario, labelled):
    sc, paths = scenario
    ben = labelled[labelled["y"] == 0]
    assert (ben["max_gap_h"] >= 12).mean() >= 0.01
    assert (ben["dc_sensitive_feasible"] > 0).sum() >= 20
    rec = json.loads(Path(paths["world"]).read_text())["reception"]
    assert rec["station_outages"] > 0 and rec["station_outage_hours"] > 0


def test_reception_holes_are_shared_by_every_ship_in_range():
    """A station outage silences every ship it covers at once, for 1-40 h: 30 ships moored in
    range of the station with the most outage hours go quiet together."""
    from training.simulator.reception import build_reception
    geo = load_geography()
    world = draw_world(5)
    rng = np.random.default_rng(0)
    t0, days = 1.7e9, 60
    rec = build_reception(world, geo, rng, t0, t0 + days * 86400)
    s = int(np.argmax([((rec.outage_end - rec.outage_start)[(rec.outage_start // rec.span) == k]).sum()
                       for k in range(len(rec.station_lat))]))
    t = np.tile(np.arange(t0, t0 + days * 86400, 300.0), 30)
    lat = np.full(len(t), rec.station_lat[s])
    lon = np.full(len(t), rec.station_lon[s])
    _, shore = rec.heard(t, lat, lon, rng)
    hourly = pd.Series(shore).groupby((t - t0) // 3600).mean()
    quiet = hourly < 0.05
    assert hourly.median() > 0.8 and quiet.sum() >= 1
    runs = quiet.astype(int).groupby((~quiet).cumsum()).sum()
    assert 1 <= runs.max() <= 41  # holes of 1-40 h


def test_leakage_audit(scenario, labelled):
    from features.catalogue import FEATURE_NAMES
    from training.simulator.audit import MAX_AUC, audit
    res = audit(labelled, scenario[0].vessels, FEATURE_NAMES)
    assert res["suspicious_vessels"] >= 60 and res["benign_vessels"] >= 200 and "text_classifier" in res
    assert all(v <= MAX_AUC for k, v in res.items() if isinstance(v, float)), res


def test_the_audit_catches_a_leak(scenario, labelled):
    """The audit is not blind: a habit given to suspicious ships only is found."""
    from training.simulator.audit import MAX_AUC, audit
    ves = scenario[0].vessels.copy()
    leaky = labelled.copy()
    susp = set(ves.loc[ves["profile"] != "benign", "mmsi"])
    leaky["leak"] = leaky["mmsi"].isin(susp).astype(float) * 3 + np.random.default_rng(0).normal(0, 1, len(leaky))
    assert audit(leaky, ves, ["leak", "max_gap_h"])["voyage_classifier"] > MAX_AUC
    # ... and one in the text: suspicious ships' crews never leave the field stale.
    texty = labelled.copy()
    susp_rows = texty["mmsi"].isin(susp).to_numpy()
    texty.loc[susp_rows, "declared_reading"] = "reached"
    texty.loc[susp_rows, ["dest_declared_mismatch", "trip_decl_mismatch"]] = 0.0
    assert audit(texty, ves, ["max_gap_h"])["text_classifier"] > MAX_AUC


def test_simulate_command_writes_the_world(tmp_path):
    exe = str(Path(sys.executable).parent / "darkvoyage")
    res = subprocess.run([exe, "simulate", "--out", str(tmp_path), "--vessels", "20", "--days", "5", "--seed", "2",
                          "--world-seed", "9"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert all((tmp_path / f).stat().st_size > 0 for f in FILES)
    assert json.loads((tmp_path / "world.json").read_text())["world"]["world_seed"] == 9


def test_docs_print_the_ranges_table():
    from training.simulator.world import ranges_markdown
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    assert ranges_markdown() in doc, "docs/simulator.md: regenerate the table with training.simulator.world.ranges_markdown()"
