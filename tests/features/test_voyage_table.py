"""Hand-built tracks with hand-computed features, one family at a time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.config import DEFAULT
from features.engine import LocalEngine
from features.pipeline import run_tracks
from features.io import track_positions_table

from ..helpers import T0, chain, end_of, go_dark, km_north, sail, stay, write_csv

AMIRABAD = (36.85, 53.365)
ASTRAKHAN = (46.3498, 48.0326)
ANZALI = (37.4667, 49.4667)


def hav_km(a, b):
    """Independent great-circle distance (the test's own oracle, plain math)."""
    r = 6371.0088
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def features_of(tmp_path, *frames, name="in.csv", **kw):
    path = write_csv(chain(*frames), tmp_path / name)
    run = LocalEngine().features([path], **kw)
    voyages, tr = run.voyages, run.tracks
    return voyages, tr


# --- gaps and dark port calls -------------------------------------------------------------

def test_31h_gap_18km_from_amirabad(tmp_path, gaz):
    p = km_north(*AMIRABAD, 18.0)
    se2 = (37.8, 52.7)
    inbound = sail(273000031, T0, [se2, p])
    t_dark = end_of(inbound)
    outbound = sail(273000031, t_dark + pd.Timedelta(hours=31), [p, se2])
    v, tr = features_of(tmp_path, inbound, outbound)
    assert len(v) == 1
    r = v.iloc[0]
    assert r["origin_port"] is pd.NA or pd.isna(r["origin_port"])
    assert r["max_gap_h"] == pytest.approx(31.0, abs=1e-6)
    assert (r["n_gaps_1h"], r["n_gaps_6h"], r["n_gaps_12h"], r["n_gaps_30h"]) == (1, 1, 1, 1)
    assert r["lg_start_port"] == "IRBAM" and r["lg_start_sensitive_port"] == "IRBAM"
    assert r["lg_start_port_km"] == pytest.approx(18.0, abs=0.05)
    assert r["lg_end_sensitive_km"] == pytest.approx(18.0, abs=0.05)
    assert r["lg_displacement_km"] == pytest.approx(0.0, abs=1e-6)
    assert r["dark_loiter_h"] == pytest.approx(31.0, abs=1e-6)  # it ended where it went dark
    # Dark call: spare = 31 h - (18 + 18 km) * 1.15 / (10 kn * 1.852) - 4 h
    spare = 31.0 - 36.0 * DEFAULT.route_factor / (10 * 1.852) - DEFAULT.min_call_stay_h
    assert r["dc_port"] == "IRBAM" and r["dc_sensitive_feasible"] == 1
    assert r["dc_sensitive_spare_h"] == pytest.approx(spare, abs=0.02)
    assert r["dc_best_spare_h"] == pytest.approx(spare, abs=0.02)
    oracle = sum(1 for i in range(gaz.n)
                 if 31.0 - 2 * hav_km(p, (gaz.lat[i], gaz.lon[i])) * 1.15 / (10 * 1.852) - 4.0 > 0)
    assert r["dc_n_feasible"] == oracle >= 4
    # Heading into the gap: SE2 -> P is ~150 deg, P -> Amirabad is 180 deg.
    assert 20 < r["lg_heading_off_sensitive_deg"] < 40
    # The usual interval is the 2-minute reporting; the gap is 930 of them.
    assert r["usual_interval_s"] == pytest.approx(120, rel=0.02)
    assert r["lg_vs_usual"] == pytest.approx(31 * 3600 / r["usual_interval_s"], rel=1e-9)


def test_out_and_back_from_astrakhan(tmp_path):
    mmsi = 273000777
    route = [ASTRAKHAN, (45.9, 47.9), (45.09, 47.6867), (44.7633, 47.76), (44.3, 48.3)]
    berth1 = stay(mmsi, T0, *ASTRAKHAN, hours=24, every_min=10)
    out = sail(mmsi, end_of(berth1) + pd.Timedelta(minutes=10), route)
    dark_from = end_of(out)
    back = sail(mmsi, dark_from + pd.Timedelta(hours=40), route[::-1])
    berth2 = stay(mmsi, end_of(back) + pd.Timedelta(minutes=10), *ASTRAKHAN, hours=24, every_min=10)
    v, tr = features_of(tmp_path, berth1, out, back, berth2)
    assert len(tr.visits) == 2 and (tr.visits["port_idx"] == 0).all()
    assert len(v) == 1
    r = v.iloc[0]
    assert r["origin_port"] == "RUASF" and r["destination_port"] == "RUASF"
    assert bool(r["origin_exit_observed"]) and bool(r["dest_entry_observed"])
    assert r["oab"] == 1 and r["origin_sensitive"] == 1 and r["dest_sensitive"] == 1
    # The voyage starts at the last fix of the visit: where the ship left the port area.
    first = tr.positions[tr.positions["timestamp"] == r["start"]].iloc[0]
    assert 15.0 < hav_km(ASTRAKHAN, (first["lat"], first["lon"])) <= 20.0  # exit radius 15 * 4/3
    assert r["oab_max_excursion_km"] == pytest.approx(hav_km((first["lat"], first["lon"]), route[-1]), rel=0.005)
    assert r["max_gap_h"] == pytest.approx(40.0, abs=1e-6)
    exit_r = 15.0 * DEFAULT.port_exit_factor
    def near(f):
        return f[[hav_km(ASTRAKHAN, (a, b)) <= exit_r for a, b in zip(f["lat"], f["lon"])]]
    second = pd.Timedelta(seconds=1)  # the CSV carries whole seconds
    assert abs(r["start"] - near(out)["timestamp"].max()) < second
    assert abs(r["end"] - near(back)["timestamp"].min()) < second
    assert r["duration_h"] == pytest.approx((r["end"] - r["start"]).total_seconds() / 3600, abs=1e-9)
    assert r["oab_dark_share"] == pytest.approx(40.0 / r["duration_h"], rel=1e-6)
    # 40 h fits a call at Makhachkala (~160 km away): a sensitive dark call on an out-and-back.
    assert r["dc_sensitive_feasible"] == 1 and r["oab_dark_sensitive"] == 1
    # It sailed past the canal entrance (sensitive, not its origin) both ways.
    assert r["near_sensitive_h"] > 2.0
    # In port the positions carry the port and no voyage; at sea the voyage and no port.
    pos = track_positions_table(tr, __import__("features.gazetteer", fromlist=["x"]).load_gazetteer())
    in_port = pos["port_id"].notna()
    assert (pos.loc[in_port, "port_id"] == "RUASF").all() and pos.loc[in_port, "voyage_id"].isna().all()
    assert (pos.loc[~in_port, "voyage_id"] == r["voyage_id"]).all()


# --- reception context --------------------------------------------------------------------

def _neighbourhood(silent_too: bool):
    q = (41.0, 51.0)
    x1 = sail(422000001, T0, [(41.0, 50.0), q])
    dark_from = end_of(x1)
    dark_to = dark_from + pd.Timedelta(hours=10)
    x2 = sail(422000001, dark_to, [q, (41.0, 52.0)])
    others = []
    for k, (dlat, dlon) in enumerate([(0.05, 0.05), (-0.05, 0.08)]):
        start = T0
        o = stay(423000010 + k, start, q[0] + dlat, q[1] + dlon, hours=40, every_min=5)
        o["sog"] = 0.1
        if silent_too:
            o = go_dark(o, dark_from - pd.Timedelta(minutes=1), dark_to + pd.Timedelta(minutes=1))
        others.append(o)
    return [x1, x2, *others]


def test_switch_off_while_neighbours_kept_reporting(tmp_path):
    v, _ = features_of(tmp_path, *_neighbourhood(silent_too=False))
    x = v[v["mmsi"] == 422000001].iloc[0]
    assert x["max_gap_h"] == pytest.approx(10.0, abs=1e-6)
    assert x["ctx_neighbours_per_h"] == pytest.approx(2.0)  # both neighbours, every hour
    assert x["lg_cell_gap_rate"] < 0.01
    assert x["ctx_cell_day_gap_rate"] < 0.01 and x["ctx_cell_day_interval_s"] == pytest.approx(300, rel=0.3)


def test_coverage_hole_where_neighbours_were_silent_too(tmp_path):
    v, _ = features_of(tmp_path, *_neighbourhood(silent_too=True))
    x = v[v["mmsi"] == 422000001].iloc[0]
    assert x["max_gap_h"] == pytest.approx(10.0, abs=1e-6)
    assert x["ctx_neighbours_per_h"] == 0.0
    assert x["ctx_cell_day_gap_rate"] > 0.0
    # The reference grid sees gaps in that cell from the neighbours too.
    others = v[v["mmsi"] != 422000001]
    assert (others["max_gap_h"] > 9.9).all()
    v_on, _ = features_of(tmp_path, *_neighbourhood(silent_too=False), name="on.csv")
    on = v_on[v_on["mmsi"] == 422000001].iloc[0]
    assert x["lg_cell_gap_rate"] > on["lg_cell_gap_rate"]


# --- identity -----------------------------------------------------------------------------

def test_two_ships_sharing_one_mmsi_become_two_tracks(tmp_path):
    mmsi = 273999999
    a = sail(mmsi, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=3)
    b = sail(mmsi, T0 + pd.Timedelta(seconds=70), [(43.5, 50.0), (43.0, 49.8)], every_min=3)
    v, tr = features_of(tmp_path, a, b)
    assert tr.counts.rejected == {} and tr.counts.positions == len(a) + len(b)
    assert sorted(tr.positions["track_no"].unique()) == [0, 1]
    lat_by_track = tr.positions.groupby("track_no")["lat"].agg(["min", "max"])
    assert lat_by_track.loc[0, "max"] < 41 and lat_by_track.loc[1, "min"] > 42.9  # no mixing
    assert sorted(v["track_id"]) == [f"{mmsi}-0", f"{mmsi}-1"]
    assert (v["n_tracks_mmsi"] == 2).all() and (v["max_gap_h"] == 0).all()


def test_outlier_fix_is_an_implausible_jump(tmp_path):
    a = sail(273000001, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=3)
    bad = a.iloc[[10]].copy()
    bad["lat"] += 2.0  # 220 km away, 1 s later
    bad["timestamp"] += pd.Timedelta(seconds=1)
    v, tr = features_of(tmp_path, a, bad)
    assert tr.counts.rejected == {"implausible jump (speed over the limit)": 1}
    assert len(v) == 1 and v.iloc[0]["n_tracks_mmsi"] == 1


def test_duplicates_from_two_receivers(tmp_path):
    a = sail(273000001, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=3)
    dup = a.iloc[5:8].copy()
    dup["timestamp"] += pd.Timedelta(seconds=2)
    v, tr = features_of(tmp_path, a, dup)
    assert tr.counts.rejected == {"duplicate message": 3}
    assert tr.counts.positions == len(a)


# --- loitering, ports, destinations --------------------------------------------------------

def test_loitering_at_sea_and_while_dark(tmp_path):
    m = 434000001
    leg1 = sail(m, T0, [(41.0, 50.0), (41.5, 50.5)])
    slow = sail(m, end_of(leg1) + pd.Timedelta(minutes=2), [(41.5, 50.5), (41.5, 50.64)], speed_kn=1.0, every_min=5)
    dark_from = end_of(slow)
    leg2 = sail(m, dark_from + pd.Timedelta(hours=8), [(41.505, 50.64), (42.0, 51.0)])
    v, _ = features_of(tmp_path, leg1, slow, leg2)
    r = v.iloc[0]
    slow_h = (end_of(slow) - slow["timestamp"].min()).total_seconds() / 3600
    assert slow_h > 6
    assert r["loiter_h"] == pytest.approx(slow_h, abs=0.1)
    assert r["loiter_events"] == 1
    assert r["dark_loiter_h"] == pytest.approx(8.0, abs=1e-6)  # 8 h dark, 0.56 km apart


def test_port_call_visit_and_declared_destination(tmp_path):
    def trip(mmsi, declared):
        leg = sail(mmsi, T0, [(38.6, 50.0), (37.56, 49.47), ANZALI], every_min=2)
        berth = stay(mmsi, end_of(leg) + pd.Timedelta(minutes=3), *ANZALI, hours=12)
        static = pd.DataFrame({"mmsi": [mmsi], "timestamp": [T0 - pd.Timedelta(hours=1)],
                               "lat": [np.nan], "lon": [np.nan], "destination": [declared]})
        return [static, leg, berth]

    v, tr = features_of(tmp_path, *trip(273000100, "ASTRAKHAN"), *trip(273000200, "BANDAR ANZALI"))
    assert tr.counts.static == 2
    by = v.set_index("mmsi")
    for m in (273000100, 273000200):
        assert by.loc[m, "destination_port"] == "IRBAZ" and pd.isna(by.loc[m, "origin_port"])
        assert bool(by.loc[m, "dest_entry_observed"]) and by.loc[m, "dest_sensitive"] == 1
    assert by.loc[273000100, "dest_declared_mismatch"] == 1
    assert by.loc[273000200, "dest_declared_mismatch"] == 0
    assert by.loc[273000100, "declared_destination"] == "ASTRAKHAN"
    assert tr.visits["entry_observed"].all()


def test_visit_entered_across_a_gap_is_flagged(tmp_path):
    m = 273000300
    leg = sail(m, T0, [(38.6, 50.0), (37.9, 49.6)])
    berth = stay(m, end_of(leg) + pd.Timedelta(hours=9), *ANZALI, hours=12)
    v, tr = features_of(tmp_path, leg, berth)
    assert len(tr.visits) == 1 and not tr.visits["entry_observed"].iloc[0]
    r = v.iloc[0]
    assert r["destination_port"] == "IRBAZ" and not bool(r["dest_entry_observed"])
    assert r["max_gap_h"] > 8


def test_voyage_ids_are_stable_and_distinct(tmp_path):
    m = 273000400
    berth1 = stay(m, T0, *ANZALI, hours=6)
    leg = sail(m, end_of(berth1) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0), (37.56, 49.47), ANZALI])
    berth2 = stay(m, end_of(leg) + pd.Timedelta(minutes=3), *ANZALI, hours=6)
    leg2 = sail(m, end_of(berth2) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0)])
    frames = [berth1, leg, berth2, leg2]
    v1, _ = features_of(tmp_path, *frames, name="a.csv")
    v2, _ = features_of(tmp_path, *frames, name="b.csv")
    assert list(v1["voyage_id"]) == list(v2["voyage_id"])
    assert v1["voyage_id"].is_unique and len(v1) == 2
    start = v1["start"].iloc[0]
    assert v1["voyage_id"].iloc[0] == f"{m}-0-{start.strftime('%Y%m%dT%H%M%SZ')}"
    # Departure = the last fix inside the exit radius (4 km * 4/3 at 10 kn: ~17 min out).
    assert pd.Timedelta(0) < start - end_of(berth1) < pd.Timedelta(minutes=25)
    assert v1.iloc[0]["oab"] == 1 and v1.iloc[1]["origin_port"] == "IRBAZ" and pd.isna(v1.iloc[1]["destination_port"])


def test_flags_from_mid(tmp_path):
    frames = [sail(m, T0, [(41.0, 50.0), (41.2, 50.2)]) for m in (273000001, 422000002, 423000003, 434000004, 436000005, 538000006)]
    v, _ = features_of(tmp_path, *frames)
    assert dict(zip(v["mmsi"], v["flag"])) == {273000001: "RU", 422000002: "IR", 423000003: "AZ",
                                               434000004: "TM", 436000005: "KZ", 538000006: "MH"}


def test_tracks_without_ports_keep_every_accepted_row(tmp_path):
    a = sail(273000001, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=3)
    tr = run_tracks([write_csv(a, tmp_path / "a.csv")])
    assert tr.counts.positions == len(a) and len(tr.visits) == 0


# --- open voyages: cut by the edges of the data ---------------------------------------------

def test_open_start_and_open_end(tmp_path):
    """A track that starts at sea opens with an ``open_start`` voyage; one that ends at sea
    closes with an ``open_end`` voyage; a port-to-port voyage between them is 0/0; a track at
    sea from its first to its last fix is both."""
    at_sea_first = 273000501   # sea -> Anzali, berth, Anzali -> Anzali round trip, berth
    ends_at_sea = 273000502    # Anzali berth -> sea, never arrives
    both = 273000503           # at sea throughout
    def berth_a(m, t):
        return stay(m, t, *ANZALI, hours=6)
    leg1 = sail(at_sea_first, T0, [(38.6, 50.0), (37.56, 49.47), ANZALI])
    b1 = berth_a(at_sea_first, end_of(leg1) + pd.Timedelta(minutes=3))
    leg2 = sail(at_sea_first, end_of(b1) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0), (37.56, 49.47), ANZALI])
    b2 = berth_a(at_sea_first, end_of(leg2) + pd.Timedelta(minutes=3))
    b3 = berth_a(ends_at_sea, T0)
    leg3 = sail(ends_at_sea, end_of(b3) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0)])
    leg4 = sail(both, T0, [(41.0, 50.0), (41.5, 50.5)])
    v, _ = features_of(tmp_path, leg1, b1, leg2, b2, b3, leg3, leg4)
    v = v.sort_values(["mmsi", "start"]).reset_index(drop=True)
    got = [(int(r.mmsi), r.origin_port if pd.notna(r.origin_port) else None,
            r.destination_port if pd.notna(r.destination_port) else None, r.open_start, r.open_end)
           for r in v.itertuples()]
    assert got == [
        (at_sea_first, None, "IRBAZ", 1.0, 0.0),     # already under way when the data starts
        (at_sea_first, "IRBAZ", "IRBAZ", 0.0, 0.0),  # port to port: closed at both ends
        (ends_at_sea, "IRBAZ", None, 0.0, 1.0),      # still under way when the data ends
        (both, None, None, 1.0, 1.0),
    ]


def test_open_flags_are_per_track(tmp_path):
    """Two ships under one MMSI: each track's own first and last voyage is open, computed
    from that track alone (the same answer as each track on its own)."""
    mmsi = 273999998
    a = sail(mmsi, T0, [(40.3, 50.6), (40.8, 51.2)], every_min=3)
    b = sail(mmsi, T0 + pd.Timedelta(seconds=70), [(43.5, 50.0), (43.0, 49.8)], every_min=3)
    v, _ = features_of(tmp_path, a, b)
    assert len(v) == 2 and (v["open_start"] == 1).all() and (v["open_end"] == 1).all()


# --- shared MMSI: hulls reporting in turn ---------------------------------------------------

def _hull_tracks(tr, hulls: dict[str, pd.DataFrame]) -> dict[str, set]:
    """Track numbers holding each hull's fixes (matched by whole-second time and position)."""
    def keys(df):
        sec = (df["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        return pd.MultiIndex.from_arrays([sec, df["lat"].round(5), df["lon"].round(5)])

    pos = tr.positions
    at = keys(pos)
    return {h: set(pos.loc[at.isin(keys(df)), "track_no"]) for h, df in hulls.items()}


@pytest.mark.parametrize("offset_s", [127, 300, 450])
def test_two_moored_hulls_reporting_in_turn_become_two_tracks(tmp_path, offset_s):
    """Two ships on one MMSI, moored 12 km apart (Anzali and the roads off it), report in turn
    every 15 min. A step from one hull to the other is reachable at <= 30 kn when it lasts 13
    min (offset 127 s), so the fixes chain; with shorter steps every fix is a jump that the
    fix before the last one could explain. Either way each hull is its own track, with its
    sailing in and out, and no voyage flickers between the two berths."""
    mmsi = 422908467
    berth_a, berth_b = (37.52, 49.35), (37.4668, 49.4667)
    a_in = sail(mmsi, T0, [(38.3, 50.2), berth_a], every_min=3)
    b_in = sail(mmsi, T0 + pd.Timedelta(seconds=70), [(38.0, 51.0), berth_b], every_min=3)
    t1 = max(end_of(a_in), end_of(b_in)) + pd.Timedelta(minutes=15)
    a_moored = stay(mmsi, t1, *berth_a, hours=8, every_min=15)
    b_moored = stay(mmsi, t1 + pd.Timedelta(seconds=offset_s), *berth_b, hours=8, every_min=15)
    t2 = max(end_of(a_moored), end_of(b_moored)) + pd.Timedelta(minutes=15)
    a_out = sail(mmsi, t2, [berth_a, (38.3, 50.2)], every_min=3)
    b_out = sail(mmsi, t2 + pd.Timedelta(seconds=70), [berth_b, (38.0, 51.0)], every_min=3)
    a, b = pd.concat([a_in, a_moored, a_out]), pd.concat([b_in, b_moored, b_out])
    v, tr = features_of(tmp_path, a, b)
    assert tr.counts.rejected == {} and tr.counts.positions == len(a) + len(b)
    assert sorted(tr.positions["track_no"].unique()) == [0, 1]
    tracks = _hull_tracks(tr, {"a": a, "b": b})
    assert len(tracks["a"]) == 1 and len(tracks["b"]) == 1 and tracks["a"] != tracks["b"]
    assert len(v) <= 4 and set(v["track_id"]) == {f"{mmsi}-0", f"{mmsi}-1"}


@pytest.mark.parametrize("every_min, offset_min", [(3, 1.5), (40, 5)])
def test_two_hulls_sailing_in_parallel_30km_apart_become_two_tracks(tmp_path, every_min, offset_min):
    """Two ships on one MMSI sail side by side 30 km apart. Reporting every 40 min, 5 min
    apart, the step from the second to the first's next fix (30 km in 35 min, 27 kn) is
    reachable, but that fix lies only 12 km from the first's last: each hull stays its own
    track."""
    mmsi = 273999997
    route = [(40.3, 50.6), (41.5, 52.0)]
    a = sail(mmsi, T0, route, every_min=every_min)
    b = sail(mmsi, T0 + pd.Timedelta(minutes=offset_min), [km_north(*p, 30.0) for p in route],
             every_min=every_min)
    v, tr = features_of(tmp_path, a, b)
    assert tr.counts.rejected == {} and tr.counts.positions == len(a) + len(b)
    assert sorted(tr.positions["track_no"].unique()) == [0, 1]
    tracks = _hull_tracks(tr, {"a": a, "b": b})
    assert len(tracks["a"]) == 1 and len(tracks["b"]) == 1 and tracks["a"] != tracks["b"]
    assert len(v) == 2


def _two_hulls(sep_km: float, a_every_s: int, b_every_s: int, b_offset_s: int, hours: float = 3.0):
    """Hull A moored, reporting every ``a_every_s``; hull B ``sep_km`` north of it, reporting
    less often: one MMSI, fixes in time order, and which hull each is."""
    ta, tb = np.arange(0, hours * 3600, a_every_s), np.arange(b_offset_s, hours * 3600, b_every_s)
    t = np.r_[ta, tb]
    lat = np.r_[np.full(len(ta), 40.0), np.full(len(tb), 40.0 + sep_km / 111.0)]
    hull_b = np.r_[np.zeros(len(ta), bool), np.ones(len(tb), bool)]
    o = np.argsort(t, kind="stable")
    return (np.full(len(t), 273000001), (t[o] * 1e6).astype(np.int64), lat[o], np.full(len(t), 50.0), hull_b[o])


@pytest.mark.parametrize("sep_km, a_every_s, b_every_s, b_offset_s", [(1.4, 60, 300, 50), (2.1, 60, 300, 50),
                                                                      (3.0, 120, 600, 100)])
def test_a_second_hull_that_reports_less_often_keeps_its_own_track(sep_km, a_every_s, b_every_s, b_offset_s):
    """B's fixes can be reached from A's track only by its fallback (from A's fix before the
    last): they stay B's track, none rejected as a jump."""
    from features.tracks import segment
    mmsi, t_us, lat, lon, b = _two_hulls(sep_km, a_every_s, b_every_s, b_offset_s)
    track, jump, _ = segment(mmsi, t_us, lat, lon, DEFAULT)
    assert not jump.any()
    assert len(set(track[b])) == 1 and len(set(track[~b])) == 1 and set(track[b]) != set(track[~b])


def test_a_lone_fix_thrown_off_does_not_draw_the_ship_after_a_gap():
    """A fix 5 km off (GPS interference), then the ship goes on where it was; after 6 h dark it
    reappears beside that stray fix. The stray fix is a jump, the ship one track (before, its
    later fixes joined the stray fix's track of one, the nearest)."""
    from features.tracks import segment
    t_min = np.r_[np.arange(0, 60, 2), 61, np.arange(62, 102, 2), np.arange(480, 540, 2)]
    lat = np.r_[np.full(30, 40.0), 40.045, np.full(20, 40.0), np.full(30, 40.04)]
    mmsi = np.full(len(t_min), 273000001)
    track, jump, _ = segment(mmsi, (t_min * 60e6).astype(np.int64), lat, np.full(len(lat), 50.0), DEFAULT)
    assert jump.tolist() == [k == 30 for k in range(len(lat))]
    assert set(track[~jump]) == {0}


def test_declared_destination_is_judged_against_the_whole_trip(tmp_path):
    """Aktau -> a queue at the Volga canal mouth -> Astrakhan: 'ASTRAKHAN' names the trip's end
    although the first voyage ends at the anchorage; 'BAKU' names no port of the trip."""
    aktau, mouth, astrakhan = (43.65, 51.15), (44.7633, 47.76), (46.3498, 48.0326)

    def trip(mmsi, declared):
        static = pd.DataFrame({"mmsi": [mmsi], "timestamp": [T0 - pd.Timedelta(hours=1)],
                               "lat": [np.nan], "lon": [np.nan], "destination": [declared]})
        berth = stay(mmsi, T0, *aktau, hours=6)
        leg1 = sail(mmsi, end_of(berth) + pd.Timedelta(minutes=3), [aktau, mouth])
        queue = stay(mmsi, end_of(leg1) + pd.Timedelta(minutes=3), *mouth, hours=6)
        leg2 = sail(mmsi, end_of(queue) + pd.Timedelta(minutes=3), [mouth, astrakhan])
        return [static, berth, leg1, queue, leg2, stay(mmsi, end_of(leg2) + pd.Timedelta(minutes=3), *astrakhan, hours=12)]

    v, _ = features_of(tmp_path, *trip(273000300, "ASTRAKHAN"), *trip(273000400, "BAKU"))
    for mmsi, mismatch in ((273000300, 0.0), (273000400, 1.0)):
        first, second = v[v["mmsi"] == mmsi].sort_values("start").iloc[:2].to_dict("records")
        assert (first["origin_port"], first["destination_port"], second["destination_port"]) == ("KZAAU", "RU-VCSC-N1", "RUASF")
        assert first["trip_end_port"] == "RUASF" and first["trip_end_sensitive"] == 1
        assert first["trip_decl_mismatch"] == mismatch and first["trip_decl_mismatch_sensitive"] == mismatch
        assert math.isnan(first["dest_declared_mismatch"])  # the single-leg check cannot judge an anchorage
        # The leg from the anchorage continues the trip: judged on its first leg only.
        assert math.isnan(second["trip_decl_mismatch"]) and math.isnan(second["trip_end_sensitive"])


def test_the_empty_voyage_table_is_a_new_frame_each_time():
    """It is built once and handed out as copies: changing one leaves the next as it was."""
    from features.voyage_table import empty_voyage_table
    a = empty_voyage_table()
    a["risk"] = []
    del a["mmsi"]
    b = empty_voyage_table()
    assert "risk" not in b and "mmsi" in b and len(b) == 0
    assert str(b["start"].dtype) == "datetime64[us, UTC]" and b["mmsi"].dtype == np.int64
