"""Identity (issue #23): links across MMSIs, shared MMSIs and spoofing typologies, each built
by hand beside its look-alike that must not fire; then a simulated month, the real files and
the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.config import DEFAULT
from features.events import EVENT_COLUMNS, detect_events
from features.identity import LINK_COLUMNS, earlier_mmsis, identity_events, link_identities
from features.pipeline import jumps_of, run_tracks
from serving.cli import app
from tests.helpers import T0, go_dark, sail, stay, write_csv

H = pd.Timedelta(hours=1)
OLD, NEW, THIRD = 273100001, 422200002, 436300003
#: A ship moored at Baku from the first hour to the last: the data's window (a track that
#: starts at the data's first fix is no new identity).
BYSTANDER = 423900009
IMO = "9074729"


def window(hours: float = 96) -> pd.DataFrame:
    return stay(BYSTANDER, T0, 40.35, 49.87, hours, every_min=30)


def static(df: pd.DataFrame, name: str | None = None, imo: str | None = None, callsign: str | None = None,
           ship_type: str | None = "70") -> pd.DataFrame:
    return df.assign(name=name, imo=imo, callsign=callsign, ship_type=ship_type)


def tracked(frames: list[pd.DataFrame], tmp_path: Path, gaz):
    return run_tracks([write_csv(pd.concat(frames, ignore_index=True), tmp_path / "ais.csv")], gaz)


def links_of(frames, tmp_path, gaz) -> pd.DataFrame:
    return link_identities(tracked(frames, tmp_path, gaz).positions)


def switch_at_sea(gap_h: float = 3.0, new_static: dict | None = None) -> list[pd.DataFrame]:
    """OLD sails south-east in the open middle Caspian from hour 20, goes dark at hour 30 and
    NEW appears on the same line ``gap_h`` later, as if it had sailed on."""
    path = sail(0, T0 + 20 * H, [(43.0, 49.5), (40.5, 51.5)], speed_kn=10)
    cut = T0 + 30 * H
    old = static(path[path["timestamp"] <= cut].assign(mmsi=OLD), "KASPIY-12", IMO, "UBX7")
    new = path[path["timestamp"] >= cut + gap_h * H].assign(mmsi=NEW)
    new = static(new, **(new_static if new_static is not None else {"name": "KASPIY 12", "imo": IMO, "callsign": "UBX7"}))
    return [window(), old, new]


def test_a_switch_at_sea_with_the_same_imo_is_a_likely_link(tmp_path, gaz):
    lk = links_of(switch_at_sea(), tmp_path, gaz)
    assert tuple(lk.columns) == LINK_COLUMNS and len(lk) == 1
    r = lk.iloc[0]
    assert (r.from_mmsi, r.to_mmsi, r.level) == (OLD, NEW, "likely") and r.confidence >= DEFAULT.identity_likely
    assert bool(r.same_imo) and bool(r.same_callsign) and r.name_similarity > 90 and bool(r.at_sea)
    assert 2.9 <= r.gap_h <= 3.1 and 9.0 <= r.implied_speed_kn <= 10.5   # it sailed on at 10 kn
    assert "same IMO 9074729" in r.evidence and f"{OLD} not heard again" in r.evidence


def test_a_switch_at_sea_with_no_static_data_rests_on_space_and_time_and_a_crowd_weakens_it(tmp_path, gaz):
    bare = {"name": None, "imo": None, "callsign": None, "ship_type": None}
    frames = switch_at_sea(new_static=bare)
    frames[1] = frames[1].assign(name=None, imo=None, callsign=None, ship_type=None)
    alone = links_of(frames, tmp_path, gaz)
    # Nothing else appeared at sea: space and time alone link them (in a box this small, not surely).
    assert list(zip(alone["from_mmsi"], alone["to_mmsi"])) == [(OLD, NEW)]
    # Three unrelated ships appear at sea near there within hours: nobody can tell which is OLD.
    others = [sail(m, T0 + (31 + k) * H, [(42.0 + 0.1 * k, 50.3), (41.0, 51.0)]).assign(name=None, imo=None, callsign=None)
              for k, m in enumerate((436000011, 436000012, 436000013))]
    (tmp_path / "crowd").mkdir()
    crowd = links_of(frames + others, tmp_path / "crowd", gaz)
    assert not (crowd["level"] == "likely").any(), crowd[["to_mmsi", "confidence", "evidence"]]
    mine = crowd[crowd["to_mmsi"] == NEW]
    assert mine.empty or mine["confidence"].iloc[0] < alone["confidence"].iloc[0]


def test_a_switch_at_sea_under_a_new_name_and_call_sign_is_still_linked(tmp_path, gaz):
    """Renaming and reflagging are what identity laundering does: they count nothing against."""
    lk = links_of(switch_at_sea(new_static={"name": "NEW STAR", "imo": None, "callsign": "ZZZ1"}), tmp_path, gaz)
    assert list(zip(lk["from_mmsi"], lk["to_mmsi"])) == [(OLD, NEW)] and lk["level"].iloc[0] == "possible"


def test_two_different_valid_imos_are_never_linked_and_a_returning_old_mmsi_is_two_ships(tmp_path, gaz):
    other_imo = links_of(switch_at_sea(new_static={"name": "KASPIY 12", "imo": "9176187", "callsign": "UBX7"}),
                         tmp_path, gaz)
    assert other_imo.empty
    frames = switch_at_sea()
    frames.append(static(stay(OLD, T0 + 50 * H, 46.35, 48.03, 6), "KASPIY-12", IMO, "UBX7"))  # OLD heard again
    (tmp_path / "b").mkdir()
    again = links_of(frames, tmp_path / "b", gaz)
    assert not (again["level"] == "likely").any()
    assert again.empty or bool(again["from_heard_again"].iloc[0])


def test_a_sale_in_port_is_linked_but_not_at_sea(tmp_path, gaz):
    """A registered sale: same IMO, new MMSI and name, at a berth with AIS on."""
    port = (40.35, 49.87)
    old = static(stay(OLD, T0 + 20 * H, *port, 10), "SEPEHR", IMO, "EPBX")
    new = static(stay(NEW, T0 + 31 * H, *port, 10), "NEW HORIZON", IMO, "UBZ9")
    lk = links_of([window(), old, new], tmp_path, gaz)
    assert len(lk) == 1 and not bool(lk["at_sea"].iloc[0]) and "at a port" in lk["evidence"].iloc[0]
    assert bool(lk["same_imo"].iloc[0]) and lk["level"].iloc[0] == "possible"  # an IMO alone is evidence, not proof


def test_chains_follow_several_changes(tmp_path, gaz):
    path = sail(0, T0 + 14 * H, [(44.0, 49.0), (40.0, 52.0)], speed_kn=10)
    parts = [path[(path["timestamp"] >= T0 + a * H) & (path["timestamp"] <= T0 + b * H)].assign(mmsi=m)
             for m, a, b in ((OLD, 14, 24), (NEW, 27, 37), (THIRD, 40, 60))]
    lk = links_of([window()] + [static(p, "KASPIY-12", IMO, "UBX7") for p in parts], tmp_path, gaz)
    assert list(zip(lk["from_mmsi"], lk["to_mmsi"])) == [(OLD, NEW), (NEW, THIRD)]
    assert lk["chain_id"].nunique() == 1 and lk["chain_id"].iloc[0] == f"{OLD}-0"
    assert earlier_mmsis(lk) == {NEW: [OLD], THIRD: [OLD, NEW]}


def test_two_short_tracks_reporting_at_once_never_link_both_ways(tmp_path, gaz):
    """Each could have "continued" the other within the allowed overlap: links follow time, so
    at most one way (here none: neither begins and ends after the other), and chains end."""
    a = stay(OLD, T0 + 20 * H, 42.0, 50.5, 0.3, every_min=1)
    b = stay(NEW, T0 + 20.1 * H, 42.001, 50.5, 0.15, every_min=1)
    lk = links_of([window(), static(a, "A", IMO), static(b, "A", IMO)], tmp_path, gaz)
    assert lk.empty


def test_identity_change_events_and_contract_columns(tmp_path, gaz):
    tr = tracked(switch_at_sea(), tmp_path, gaz)
    ev = detect_events(tr.positions, tr.visits, gaz, jumps=jumps_of(tr))
    assert tuple(ev.columns) == EVENT_COLUMNS
    ch = ev[ev["kind"] == "identity_change"]
    assert len(ch) == 1 and (ch["mmsi"].iloc[0], ch["partner_mmsi"].iloc[0]) == (NEW, OLD)
    assert ch["detail"].iloc[0].startswith("likely (") and bool(ch["identity_changed"].iloc[0])


# --- shared MMSI ---------------------------------------------------------------------------

def test_two_hulls_on_one_mmsi_at_once(tmp_path, gaz):
    a = sail(OLD, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)])
    b = sail(OLD, T0 + 21 * H, [(38.0, 51.0), (40.0, 52.5)])  # 500 km away, same hours
    ev = identity_events(tracked([window(), a, b], tmp_path, gaz).positions, gaz)
    sh = ev[ev["kind"] == "shared_mmsi"]
    assert len(sh) == 1 and sh["mmsi"].iloc[0] == OLD
    assert "two hulls on one MMSI" in sh["detail"].iloc[0] and sh["hours"].iloc[0] > 10


def test_two_hulls_event_ends_with_the_last_hour_both_reported(tmp_path, gaz):
    """The second hull reports 5 h beside the first, then is silent; a last fix of its track
    comes after the first hull's. The event ends with the last hour both reported in, not
    where the tracks' spans stop overlapping (the voyages after it are not the two hulls')."""
    a = sail(OLD, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)])  # ~13.5 h
    b = go_dark(sail(OLD, T0 + 21 * H, [(38.0, 51.0), (40.0, 52.5)]), T0 + 25.99 * H, T0 + 34 * H)
    ev = identity_events(tracked([window(), a, b], tmp_path, gaz).positions, gaz)
    sh = ev[ev["kind"] == "shared_mmsi"]
    assert len(sh) == 1 and "report in the same hours 5 times" in sh["detail"].iloc[0]
    assert pd.Timestamp(sh["end"].iloc[0]) == T0 + 26 * H and sh["hours"].iloc[0] == pytest.approx(5.0, abs=0.1)


def test_two_hulls_crossing_on_one_lane_are_two_tracks(tmp_path, gaz):
    """Two hulls on one MMSI pass each other on a lane (one north-bound, one south-bound, 200 m
    apart, reporting in turn at their own rates). At the crossing the tracker used to take a
    fix for the other hull's track by its fix before last (claiming that track's last fix was
    off) where its own track reached it, and opened a third track: one hull, two rows."""
    north = sail(OLD, T0, [(45.0, 47.600), (46.0, 47.600)], speed_kn=6.0, every_min=2.5)
    south = sail(OLD, T0 + pd.Timedelta(minutes=1), [(46.0, 47.602), (45.0, 47.602)], speed_kn=6.0,
                 every_min=2.5 * 1.37)
    tr = tracked([window(), north, south], tmp_path, gaz)
    pos = tr.positions[tr.positions["mmsi"] == OLD]
    assert pos["track_no"].nunique() == 2 and len(pos) == len(north) + len(south)
    assert (identity_events(tr.positions, gaz)["kind"] == "shared_mmsi").sum() == 1


@pytest.mark.parametrize("names, named", [(("SEPEHR 230", "Sepehr-230"), False), (("SEPEHR 230", "KAPITAN 6"), True)])
def test_two_hulls_are_named_only_when_their_names_differ_beyond_spelling(tmp_path, gaz, names, named):
    a = static(sail(OLD, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)]), name=names[0])
    b = static(sail(OLD, T0 + 21 * H, [(38.0, 51.0), (40.0, 52.5)]), name=names[1])
    sh = identity_events(tracked([window(), a, b], tmp_path, gaz).positions, gaz).query("kind == 'shared_mmsi'")
    assert len(sh) == 1 and ("; names " in sh["detail"].iloc[0]) == named


def test_one_ship_with_a_gap_or_a_single_jump_is_not_two_hulls(tmp_path, gaz):
    a = sail(OLD, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)])
    gap = go_dark(a, T0 + 24 * H, T0 + 30 * H)
    jump = a.copy()
    jump.loc[40, ["lat", "lon"]] = (38.0, 53.0)  # one fix 500 km off, then back
    for k, frames in enumerate(([window(), gap], [window(), jump])):
        (tmp_path / str(k)).mkdir()
        ev = identity_events(tracked(frames, tmp_path / str(k), gaz).positions, gaz)
        assert not (ev["kind"] == "shared_mmsi").any()


# --- spoofing ------------------------------------------------------------------------------

def spoof_kinds(frames, tmp_path, gaz) -> list[str]:
    tr = tracked(frames, tmp_path, gaz)
    ev = identity_events(tr.positions, gaz, jumps=jumps_of(tr))
    return [d.split(":")[0] for d in ev.loc[ev["kind"] == "spoofing", "detail"]]


def test_a_fixed_position_while_sailing_is_spoofing_and_a_stale_speed_at_anchor_is_not(tmp_path, gaz):
    fixed = stay(OLD, T0 + 20 * H, 42.0, 50.5, 5, every_min=2).assign(sog=10.0)
    assert spoof_kinds([window(), fixed], tmp_path, gaz) == ["fixed position"]
    rng = np.random.default_rng(1)
    anchor = fixed.assign(lat=fixed["lat"] + rng.normal(0, 2e-5, len(fixed)),  # GPS moves the fix by metres
                          lon=fixed["lon"] + rng.normal(0, 2e-5, len(fixed)))
    (tmp_path / "a").mkdir()
    assert spoof_kinds([window(), anchor], tmp_path / "a", gaz) == []


def circling(turns: float, radius_km: float = 2.0, speed_kn: float = 10.0) -> pd.DataFrame:
    """Fixes every 2 min on a circle about the open middle Caspian."""
    hours = turns * 2 * np.pi * radius_km / (speed_kn * 1.852)
    t = np.arange(0, hours * 60, 2.0) / 60.0
    ang = t * speed_kn * 1.852 / radius_km
    return pd.DataFrame({"mmsi": OLD, "timestamp": T0 + 20 * H + pd.to_timedelta(t, unit="h"),
                         "lat": 42.0 + radius_km / 111.2 * np.sin(ang),
                         "lon": 50.5 + radius_km / (111.2 * np.cos(np.radians(42))) * np.cos(ang), "sog": speed_kn})


def test_drawn_circles_are_spoofing_and_one_turn_or_a_slow_zigzag_is_not(tmp_path, gaz):
    assert spoof_kinds([window(), circling(4)], tmp_path, gaz) == ["circles"]
    (tmp_path / "a").mkdir()
    assert spoof_kinds([window(), circling(1)], tmp_path / "a", gaz) == []
    zig = sail(OLD, T0 + 20 * H, [(42.0 + 0.02 * (k % 2), 50.5 + 0.02 * k) for k in range(30)], speed_kn=3)
    (tmp_path / "b").mkdir()
    assert spoof_kinds([window(), zig], tmp_path / "b", gaz) == []


def test_jumps_that_come_back_are_spoofing_and_a_single_glitch_is_not(tmp_path, gaz):
    a = sail(OLD, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)])
    many = a.copy()
    for row, far in zip((30, 60, 90, 120), ((38.0, 53.0), (37.2, 50.0), (45.0, 47.5), (39.0, 53.5))):
        many.loc[row, ["lat", "lon"]] = far  # each one fix somewhere else, the track going on
    assert spoof_kinds([window(), many], tmp_path, gaz) == ["jumps that come back"]
    one = a.copy()
    one.loc[[30], ["lat", "lon"]] = (38.0, 53.0)
    (tmp_path / "a").mkdir()
    assert spoof_kinds([window(), one], tmp_path / "a", gaz) == []


def test_jumps_that_come_back_to_three_ships_at_once_are_gps_interference_not_spoofing(tmp_path, gaz):
    """The same jumps, but three ships nearby jump in the same hours: the area's receivers are
    being jammed, no ship is spoofing; nor do the thrown-off fixes make a second hull."""
    ships = []
    for k, m in enumerate((OLD, NEW, THIRD)):
        a = sail(m, T0 + 20 * H, [(43.0 + 0.05 * k, 49.5), (41.0 + 0.05 * k, 51.0)])
        for row, (dlat, dlon) in zip((30, 40, 50, 60), ((0.25, -0.25), (-0.3, 0.3), (0.3, 0.3), (-0.25, -0.3))):
            a.loc[row, ["lat", "lon"]] = (a.loc[row, "lat"] + dlat, a.loc[row, "lon"] + dlon)  # thrown off, any way
        ships.append(a)
    tr = tracked([window(), *ships], tmp_path, gaz)
    assert len(jumps_of(tr)) >= 9
    ev = identity_events(tr.positions, gaz, jumps=jumps_of(tr))
    assert not ev["kind"].isin(["spoofing", "shared_mmsi"]).any()


def test_an_unallocated_mid_is_spoofing_and_an_allocated_one_is_not(tmp_path, gaz):
    kinds = spoof_kinds([window(), sail(280123456, T0 + 20 * H, [(43.0, 49.5), (41.0, 51.0)])], tmp_path, gaz)
    assert kinds == ["unallocated MID"]   # 280: no state's MID; the bystander's 423 (Azerbaijan) is


# --- a simulated month, the real files, the command ------------------------------------------

@pytest.fixture(scope="module")
def month(tmp_path_factory, gaz):
    from training.simulator import SimConfig, simulate, write_scenario
    sc = simulate(SimConfig(vessels=300, days=20, seed=1))
    paths = write_scenario(sc, tmp_path_factory.mktemp("id_month"))
    return sc.vessels, run_tracks([paths["positions"]], gaz), paths


def test_every_planted_mmsi_change_of_a_simulated_month_is_linked_and_nothing_else_is(month):
    """Changes at sea (some renamed, some without IMO) are all linked, those with static data
    that agrees as likely; registered sales alongside are linked when their static data came
    through, never as a switch at sea; no link joins two ships."""
    vessels, tr, _ = month
    heard = set(tr.positions["mmsi"].unique())
    changed = vessels[vessels["new_mmsi"].astype(str).str.fullmatch(r"\d+")]
    pairs = {(int(a), int(b)): p for a, b, p in zip(changed["mmsi"], changed["new_mmsi"], changed["profile"])
             if int(a) in heard and int(b) in heard}
    at_sea = {k for k, p in pairs.items() if p == "mmsi_change"}
    assert len(at_sea) >= 2 and len(pairs) > len(at_sea)   # the month has both kinds
    lk = link_identities(tr.positions)
    got = dict(zip(zip(lk["from_mmsi"], lk["to_mmsi"]), zip(lk["level"], lk["at_sea"])))
    assert at_sea <= set(got) and set(got) <= set(pairs)
    assert sum(lv == "likely" for lv, _ in got.values()) >= 2
    assert not any(sea for k, (_, sea) in got.items() if k not in at_sea)


def test_every_planted_shared_mmsi_and_spoofer_of_a_simulated_month_is_found(month, gaz):
    """Two hulls on one number and made-up positions are found where planted; their
    look-alikes (small craft on a default MMSI, stale speeds at rest, GPS interference) give
    no spoofing, and a default MMSI says what it is."""
    vessels, tr, paths = month
    planted = set(vessels.loc[vessels["profile"] == "shared_mmsi", "mmsi"].astype(int))
    boats = set(vessels.loc[vessels["kind"] == "small_craft", "mmsi"].astype(int))
    planted_ev = pd.read_csv(paths["events"])
    spoofers = set(planted_ev.loc[(planted_ev["behaviour"] == "spoofing") & planted_ev["visible_in_window"], "mmsi"])
    assert boats == {423000000} and spoofers and vessels["stale_speed"].any()
    ev = identity_events(tr.positions, gaz, jumps=jumps_of(tr))
    found = set(ev.loc[ev["kind"] == "shared_mmsi", "mmsi"])
    assert planted and planted <= found and len(found - planted - boats) <= 1
    assert ev.loc[ev["mmsi"].isin(boats) & (ev["kind"] == "shared_mmsi"), "detail"].str.contains("default MMSI").all()
    spoofed = set(ev.loc[ev["kind"] == "spoofing", "mmsi"])
    assert spoofers <= spoofed and spoofed <= set(vessels.loc[vessels["profile"] == "spoofing", "mmsi"])


def test_real_files_give_shared_mmsis_and_no_likely_link(real_files, gaz):
    tr = run_tracks(real_files, gaz)
    lk = link_identities(tr.positions)
    assert not (lk["level"] == "likely").any()
    ev = identity_events(tr.positions, gaz, jumps=jumps_of(tr), links=lk)
    shared = set(ev.loc[ev["kind"] == "shared_mmsi", "mmsi"])
    assert {416000000, 666000001} <= shared   # GFW's fixtures of many boats on one number
    spoof = ev.loc[ev["kind"] == "spoofing", "detail"]
    assert spoof.str.startswith("unallocated MID").all() and 200000010 in set(ev.loc[ev["kind"] == "spoofing", "mmsi"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".geojson"])
def test_identities_command(month, tmp_path, suffix):
    _, _, paths = month
    out = tmp_path / f"links{suffix}"
    res = CliRunner().invoke(app, ["identities", paths["positions"], "--out", str(out)])
    assert res.exit_code == 0, res.output
    if suffix == ".csv":
        lk = pd.read_csv(out)
        assert tuple(lk.columns) == LINK_COLUMNS and (lk["level"] == "likely").sum() >= 2
        assert json.loads(Path(str(out) + ".rows.json").read_text())["darkvoyage.rows"]["read"] > 0
    elif suffix == ".parquet":
        assert tuple(pq.read_schema(out).names) == LINK_COLUMNS
    else:
        fc = json.loads(out.read_text())
        assert fc["features"] and all(f["geometry"]["type"] == "LineString" for f in fc["features"])


def test_identities_command_bad_output(month, tmp_path):
    _, _, paths = month
    res = CliRunner().invoke(app, ["identities", paths["positions"], "--out", str(tmp_path / "links.txt")])
    assert res.exit_code == 2 and "identities output must end in" in res.output
