"""Labelled Caspian traffic from a randomized world, honest about AIS reception.

The model learns only what this simulator lets separate the classes, so it is built (and
tested, ``tests/training/test_simulator.py``) around four rules:

1. **Ordinary life is the same for everyone.** Flag, type, size, age, reporting rate, speed,
   trade routes, queues, port stays, stale destinations, AIS off alongside, equipment faults
   and benign look-alike habits are drawn independently of the profile. A suspicious ship
   differs only on the voyages that carry its planted behaviour.
2. **Benign ships go dark too**: shore-station outages and satellite holes (correlated, 1-40 h),
   faults, switch-offs alongside, and a third of ships carry a "twin" habit that looks like a
   planted event (``training/simulator/twins.py``).
3. **The world is drawn** (``training/simulator/world.py``): every parameter from a documented range,
   per ``world_seed``; ``world.json`` records the values.
4. **Every voyage is labelled**, also those cut by the edges of the data, by what happened
   inside the window; ``events.csv`` holds the truth of every planted event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.geo import KM_PER_NM, haversine_km

from . import behaviours as B
from .feed import destination_texts, draughts, dropped_columns, nav_status, stale_speeds
from .fleet import Vessel, default_mmsi_boats, make_fleet
from .geography import Geography, load_geography
from .interference import Interference, draw_interference
from .planner import Planner, ais_name
from .reception import Reception, build_reception
from .truth import label_trips, planted_events
from .twins import TWIN_APPLIES, TWIN_FUNCS
from .world import World, draw_world, with_overrides

log = logging.getLogger(__name__)

#: A second hull transmits a shared MMSI for this many days: a few voyages, so an identity
#: game stays a minor share of the suspicious voyages beside the dark ones.
SHARED_MMSI_DAYS = (3.0, 10.0)
#: Ships are simulated from this long before the window so the window cuts them anywhere.
WARMUP_DAYS = (3.0, 10.0)


@dataclass(frozen=True)
class SimConfig:
    """Scenario size and seeds; everything else comes from the drawn world."""

    vessels: int = 600
    days: float = 60.0
    seed: int = 7
    #: The world's seed; None: the same number as ``seed`` (its own random stream).
    world_seed: int | None = None
    start: str = "2024-10-01"
    #: Share of all ships given a suspicious profile (among cargo ships and tankers). A quarter
    #: gives a scenario enough examples of every behaviour to learn from (at 0.10 a 300-ship
    #: world has one shared-MMSI ship): models trained at 0.25 rank the reference world at AP
    #: 0.70-0.77 against 0.60-0.73 at 0.10 (bench_robustness.py). Real fleets have fewer; the
    #: calibrated risk follows the training share.
    suspicious_share: float = 0.25
    #: Share of voyage labels flipped, as analysts' labels are not perfect.
    label_noise: float = 0.0
    #: World parameters set by hand after the draw, also outside their ranges ((name, value)
    #: pairs, :func:`~training.simulator.world.with_overrides`): a world training never saw.
    world_overrides: tuple = ()

    @property
    def world_seed_used(self) -> int:
        return self.seed if self.world_seed is None else self.world_seed


# --- one ship's life ------------------------------------------------------------------------

#: Where a suspicious behaviour can happen: (planner, here, planned next port) -> bool.
APPLIES = {
    "dark_approach": lambda P, h, n: n in B.SENSITIVE_IR,
    "dark_call_oab": lambda P, h, n: h in B.RU_PORTS and n in B.IR_PORTS,
    "dark_volga": lambda P, h, n: h in B.IR_PORTS and n in B.VOLGA,
    "dark_loiter": lambda P, h, n: True,
    "false_destination": lambda P, h, n: n in B.SENSITIVE,
    # Once, inside the window: a change before the data starts leaves nothing to see.
    "mmsi_change": lambda P, h, n: not P.v.changed and P.t > P.window_start,
    "spoofing": lambda P, h, n: n in B.SENSITIVE_IR,
}
FUNCS = {"normal": B.normal, "dark_approach": B.dark_approach, "dark_call_oab": B.dark_call_oab,
         "dark_volga": B.dark_volga, "dark_loiter": B.dark_loiter, "false_destination": B.false_destination,
         "mmsi_change": B.mmsi_change, "sts": B.sts, "spoofing": B.spoofing, **TWIN_FUNCS}


def _choose(P: Planner, here: str, nxt: str) -> str:
    v = P.v
    rv = v.rendezvous
    if rv is not None and not rv.get("done"):
        # Leave for the meeting when one more ordinary voyage could not make it in time.
        to_rv = P.geo.route_km(here, rv["hub"]) / (v.speed_kn * KM_PER_NM) * 3600
        if P.t + 3 * 86400 + 2 * to_rv > rv["t"]:
            return "sts"
    # Both draws are made for every ship, so habits cost suspicious ships no randomness.
    event, habit = P.rng.random() < v.event_share, P.rng.random() < P.world.twin_voyage_share
    if event and v.profile in APPLIES and APPLIES[v.profile](P, here, nxt):
        return v.profile
    if habit and v.twin and TWIN_APPLIES.get(v.twin, lambda *_: True)(P, here, nxt):
        return v.twin
    return "normal"


def simulate_vessel(v: Vessel, geo: Geography, world: World, rng, t0: float, t_stop: float,
                    window_start: float | None = None) -> Planner:
    """Plan and render one ship's voyages from ``t0`` until it passes ``t_stop`` (s); the data
    window starts at ``window_start`` (default ``t0``)."""
    P = Planner(v, geo, world, rng, t0)
    P.window_start = t0 if window_start is None else window_start
    ports = geo.port_node
    if v.kind in ("supply", "small_craft"):
        home = "AZBAK" if "AZBAK" in ports else "AZALA"
    elif v.kind == "ferry":
        home = "AZALA"
    else:
        pool = {p: w for p, w in {**B.RU_PORTS, **B.IR_PORTS, **B.OTHER_PORTS}.items() if p in ports}
        home = list(pool)[rng.choice(len(pool), p=np.array(list(pool.values())) / sum(pool.values()))]
    v.home = here = home
    P.berth(here, float(rng.uniform(2, 48)), ais_name(here))
    while P.t < t_stop:
        dep = P.t
        if v.kind in ("supply", "small_craft"):
            habit = v.twin == "twin_platform_dark" and rng.random() < world.twin_voyage_share
            here, stay = B.supply_trip(P, here, here, dep, dark=habit)
        else:
            nxt = B.next_port(P, here)
            here, stay = FUNCS[_choose(P, here, nxt)](P, here, nxt, dep)
        P.berth(here, stay if stay is not None else P.stay_hours())
    return P


@dataclass
class Feed:
    """What every ship's texts are coded against: each port's country, and one vocabulary per
    text column (text -> code, in the order first met)."""
    country: dict
    dest: dict = field(default_factory=dict)
    name: dict = field(default_factory=dict)

    def codes(self, vocab: dict, texts: list[str]) -> np.ndarray:
        return np.array([vocab.setdefault(x, len(vocab)) for x in texts], np.int64)


def _receive(P: Planner, rec: Reception, rng, t_start: float, t_end: float, feed: Feed,
             gnss: Interference | None = None) -> pd.DataFrame:
    """The fixes that reach the archive: heard by a station or a satellite, AIS on, with what
    the crew sends besides its position (``training/simulator/feed.py``): made-up positions
    while it spoofs, a stale speed at rest by habit, positions thrown off in GPS interference."""
    tr, v = P.track, P.v
    t_all = np.concatenate(tr.t)
    intent = np.concatenate(tr.dest)
    keep = (t_all >= t_start) & (t_all < t_end)
    cols = {k: np.concatenate(getattr(tr, k))[keep] for k in ("t", "lat", "lon", "sog", "cog", "nav", "berth", "mmsi")}
    t = cols["t"]
    n = len(t)
    on, shore = rec.heard(t, cols["lat"], cols["lon"], rng, weak=v.weak)
    coast = P.geo.coast_km(cols["lat"], cols["lon"])
    days = (t_end - t_start) / 86400.0
    windows = list(tr.off)
    for f0 in rng.uniform(t_start, t_end, rng.poisson(P.world.fault_rate_per_day * days)):  # equipment faults
        windows.append((f0, f0 + np.exp(rng.uniform(np.log(2.0), np.log(P.world.fault_h_max))) * 3600.0, 0.0))
    for w0, w1, keep_p in windows:
        inside = (t >= w0) & (t < w1)
        if inside.any():
            # "Partly on" is the odd fix well out at sea; a hidden call stays hidden.
            on &= ~inside | ((rng.random(n) < keep_p) & (coast > 10.0))
    if v.off_at_berth and n:
        b = cols["berth"]
        run = np.cumsum(np.r_[True, ~b[:-1]] & b)
        first = pd.Series(t).groupby(run).transform("min").to_numpy()
        last = pd.Series(t).groupby(run).transform("max").to_numpy()
        on &= ~b | (t - first < 1800) | (last - t < 1800)  # heard arriving and leaving only
    sel = np.flatnonzero(on)
    h = v.feed
    at, texts = destination_texts(t_all, intent, h, feed.country, v.home)
    dest = feed.codes(feed.dest, texts)[at[keep][sel]] if len(texts) else np.zeros(len(sel), np.int64)
    names = [v.name, h.name_variant or v.name]
    name = feed.codes(feed.name, names)[(rng.random(len(sel)) < 0.4).astype(np.int64)]
    if v.new_mmsi and v.new_name:  # after a change of identity, the new name
        name[cols["mmsi"][sel] == v.new_mmsi] = feed.codes(feed.name, [v.new_name])[0]
    draught = draughts(t_all, intent, h, v.draught)[keep][sel]
    if h.static_lost:
        dest[:] = name[:] = -1
        draught[:] = np.nan
    lat, lon, sog, cog = _sent_positions(P, t[sel], cols["lat"][sel], cols["lon"][sel], cols["sog"][sel],
                                         cols["cog"][sel], rng, gnss)
    return pd.DataFrame({
        "mmsi": cols["mmsi"][sel],
        "timestamp": pd.to_datetime(np.round(t[sel]).astype(np.int64), unit="s", utc=True),
        "lat": np.round(lat, 6), "lon": np.round(lon, 6),
        "sog": sog, "cog": cog,
        "heading": np.round((cog + rng.normal(0, 3, len(sel))) % 360).astype(np.int64),
        "nav_status": nav_status(cols["nav"][sel], h).astype(np.int64),
        "destination": dest, "name": name, "draught": draught,
        "receiver_type": np.where(shore[sel], 0, 1).astype(np.int8),
    })


def _sent_positions(P: Planner, t, lat, lon, sog, cog, rng, gnss: Interference | None):
    """Position, speed and course as sent, from the true ones at heard times ``t`` (s): a speed
    stale at rest by habit, made-up positions in the ship's spoofing windows, and fixes thrown
    off by GPS interference (positions from the GPS, so not the made-up ones)."""
    sog, cog = stale_speeds(np.asarray(sog, float), P.v.feed), np.asarray(cog, float).copy()
    lat, lon = np.asarray(lat, float).copy(), np.asarray(lon, float).copy()
    made_up = np.zeros(len(t), bool)
    for sp in P.track.spoof:
        w = (t >= sp.t0) & (t < sp.t1)
        if w.any():
            lat[w], lon[w], sog[w], cog[w] = sp.positions(t[w], rng)
            made_up |= w
    if gnss is not None and len(t):
        jlat, jlon, hit = gnss.displace(t, lat, lon, seed=int(P.v.mmsi) * 1000 + int(P.v.length * 10))
        hit &= ~made_up
        lat[hit], lon[hit] = jlat[hit], jlon[hit]
    return lat, lon, sog, cog


@dataclass
class Scenario:
    positions: pd.DataFrame
    labels: pd.DataFrame
    vessels: pd.DataFrame
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    world: dict = field(default_factory=dict)


#: A meeting point lies at least this far from land (km): the two ships drift about it while
#: they wait (``behaviours.sts``: up to 1 km), and a drift ashore is no meeting. Nor is a
#: meeting inside a port's area (:func:`_in_port_area`).
STS_CLEAR_KM = 2.0


def _in_port_area(geo: Geography, point: tuple[float, float]) -> bool:
    """Within a gazetteer port's (or anchorage's) exit radius, 4/3 of its radius, and
    ``STS_CLEAR_KM`` more: two ships waiting there are at a port (a queue off the Volga canal
    entrance), not meeting at sea."""
    gaz = geo.gaz
    km = haversine_km(gaz.lat, gaz.lon, point[0], point[1])
    return bool((km <= gaz.radius_km * 4 / 3 + STS_CLEAR_KM).any())


def _plan_rendezvous(fleet: list[Vessel], geo: Geography, world: World, rng, t_start: float, days: float):
    """Pair the ship-to-ship vessels and give each pair a meeting point on an open-water lane;
    one side stays visible in some pairs."""
    lanes = geo.lane_points()
    pairs = [v for v in fleet if v.profile == "sts"]
    if len(pairs) % 2:
        pairs[-1].profile = "dark_loiter"
        pairs = pairs[:-1]
    for a, b in zip(pairs[0::2], pairs[1::2]):
        for _ in range(50):  # open water: both ships drift ~1 km about it while they wait
            p = lanes[rng.integers(len(lanes))]
            point = (float(p[0]) + rng.uniform(-0.15, 0.15), float(p[1]) + rng.uniform(-0.15, 0.15))
            # Both ships reach it from the lane node nearest it: that leg must be on water too.
            if not geo.segment_wet(geo.xy[geo.nearest_node(point)], point):
                point = tuple(map(float, p))
            ring = np.radians(np.arange(0, 360, 45))
            dlat, dlon = STS_CLEAR_KM / 111.0 * np.sin(ring), STS_CLEAR_KM / (111.0 * np.cos(np.radians(point[0]))) * np.cos(ring)
            if geo.on_water(point[0] + dlat, point[1] + dlon).all() and not _in_port_area(geo, point):
                break
        hub = min((q for q in geo.ports if not q.startswith("PLATFORM")),
                  key=lambda q: float(haversine_km(*geo.where(q), *point)))
        meet = {"point": point, "t": t_start + rng.uniform(0.15, 0.85) * days * 86400, "hub": hub,
                "hours": float(rng.uniform(4, world.loiter_h_max))}
        visible = (a, b)[rng.integers(2)].mmsi if rng.random() < world.sts_one_dark_p else 0
        a.rendezvous = {**meet, "partner": b.mmsi, "visible": a.mmsi == visible}
        b.rendezvous = {**meet, "partner": a.mmsi, "visible": b.mmsi == visible}


def simulate(cfg: SimConfig = SimConfig(), progress=None) -> Scenario:
    """Simulate the scenario; deterministic per ``cfg`` (seed and world seed)."""
    world = with_overrides(draw_world(cfg.world_seed_used), cfg.world_overrides)
    rng = np.random.default_rng(cfg.seed)
    geo = load_geography()
    t_start = pd.Timestamp(cfg.start, tz="UTC").timestamp()
    t_end = t_start + cfg.days * 86400.0
    rec = build_reception(world, geo, rng, t_start - 86400.0, t_end + 86400.0)
    gnss = draw_interference(world, geo.lane_points(), t_start - 86400.0, t_end + 86400.0)
    fleet = make_fleet(cfg.vessels, cfg.suspicious_share, world, rng)
    _plan_rendezvous(fleet, geo, world, rng, t_start, cfg.days)
    feed = Feed(dict(zip(geo.gaz.ids, geo.gaz.ports["country"])))
    parts, trips = [], []
    for i, v in enumerate(fleet):
        t0 = t_start - float(rng.uniform(*WARMUP_DAYS)) * 86400.0
        P = simulate_vessel(v, geo, world, rng, t0, t_end + 86400.0, t_start)
        parts.append(_receive(P, rec, rng, t_start, t_end, feed, gnss))
        trips += P.track.trips
        if progress:
            progress(i + 1, len(fleet))
    for v in [v for v in fleet if v.profile == "shared_mmsi"]:  # a second hull under the same identity
        hull = Vessel(**{**v.__dict__, "profile": "shared_mmsi_twin", "event_share": 0.0, "twin": "",
                         "speed_kn": float(rng.uniform(9, 12)), "rendezvous": None})
        w0 = t_start + rng.uniform(0.1, 0.5) * cfg.days * 86400
        w1 = min(w0 + float(rng.uniform(*SHARED_MMSI_DAYS)) * 86400, t_end)
        parts.append(_receive(simulate_vessel(hull, geo, world, rng, w0, w1), rec, rng, w0, w1, feed, gnss))
        trips.append({"mmsi": v.mmsi, "start": w0, "end": w1, "behaviour": "shared_mmsi", "event": None})
    boats = default_mmsi_boats(world, rng, int(rng.integers(2**31)))
    for v in boats:  # small craft on one default MMSI: every trip is the benign look-alike
        P = simulate_vessel(v, geo, world, rng, t_start - float(rng.uniform(*WARMUP_DAYS)) * 86400.0,
                            t_end + 86400.0, t_start)
        parts.append(_receive(P, rec, rng, t_start, t_end, feed, gnss))
        trips += [{**trip, "behaviour": "twin_default_mmsi"} for trip in P.track.trips]
    dropped = dropped_columns(world)
    pos = _assemble(parts, fleet + boats, feed).drop(columns=dropped)
    labels = label_trips(trips, cfg, rng, t_start, t_end)
    events = planted_events(trips, t_start, t_end)
    vessels = pd.DataFrame([{"mmsi": v.mmsi, "imo": v.imo, "name": v.name, "flag": v.flag, "ship_type": v.ship_type,
                             "kind": v.kind, "length": v.length, "built": v.built, "service_speed_kn": round(v.speed_kn, 2),
                             "report_interval_s": round(v.underway_s, 1), "home_port": v.home, "profile": v.profile,
                             "habit": v.twin, "off_at_berth": v.off_at_berth, "event_share": round(v.event_share, 3),
                             "new_mmsi": v.new_mmsi or "", "new_name": v.new_name, "new_imo": v.new_imo,
                             "text_update": v.feed.update, "text_form": v.feed.form,
                             "static_lost": v.feed.static_lost, "nav_status_habit": v.feed.nav,
                             "stale_speed": v.feed.stale_speed} for v in fleet + boats])
    info = {"seed": cfg.seed, "world_seed": cfg.world_seed_used, "vessels": cfg.vessels, "days": cfg.days,
            "start": cfg.start, "suspicious_share": cfg.suspicious_share, "label_noise": cfg.label_noise,
            "world": world.to_dict(), "reception": rec.describe(), "gps_interference": gnss.describe(),
            "columns_dropped": dropped, **({"world_overrides": dict(cfg.world_overrides)} if cfg.world_overrides else {})}
    return Scenario(pos, labels, vessels, events, info)


def _assemble(parts: list[pd.DataFrame], fleet: list[Vessel], feed: Feed) -> pd.DataFrame:
    """One feed in time order, identity and text columns as categories (one string per value);
    ships whose static messages never arrive have none."""
    pos = pd.concat(parts, ignore_index=True)
    hulls = {v.mmsi: v for v in fleet}
    hulls.update({v.new_mmsi: v for v in fleet if v.new_mmsi})
    ident = np.array(sorted(hulls))
    t_us = np.asarray(pos["timestamp"].dt.as_unit("us").array.asi8)
    pos = pos.take(np.lexsort((pos["lat"].to_numpy(), pos["mmsi"].to_numpy(), t_us))).reset_index(drop=True)
    at = np.searchsorted(ident, pos["mmsi"].to_numpy())
    vs = [hulls[m] for m in ident]
    renamed = [m == v.new_mmsi for m, v in zip(ident, vs)]  # the identity a hull took later
    lost = np.array([v.feed.static_lost for v in vs])[at]

    def cat(values: list[str]) -> pd.Categorical:
        """Per MMSI value -> column; "" is not sent."""
        cats = sorted(set(values) - {""})
        index = {c: i for i, c in enumerate(cats)}
        codes = np.array([index.get(x, -1) for x in values], dtype=np.int64)[at]
        return pd.Categorical.from_codes(np.where(lost, -1, codes), categories=cats)

    def coded(col: str, vocab: dict) -> pd.Categorical:
        cats = list(vocab)
        order = np.argsort(np.array(cats, dtype=object)) if cats else np.zeros(0, np.int64)
        rank = np.empty(len(cats), np.int64)
        rank[order] = np.arange(len(cats))
        codes = pos[col].to_numpy()
        return pd.Categorical.from_codes(np.where(codes >= 0, rank[np.maximum(codes, 0)], -1),
                                         categories=[cats[i] for i in order])

    pos["name"] = coded("name", feed.name)
    pos["imo"] = cat([v.new_imo if r else v.imo for v, r in zip(vs, renamed)])
    pos["callsign"] = cat([v.new_callsign if r else v.callsign for v, r in zip(vs, renamed)])
    pos["ship_type"] = cat([v.ship_type for v in vs])
    pos["destination"] = coded("destination", feed.dest)
    pos["receiver_type"] = pd.Categorical.from_codes(pos["receiver_type"].to_numpy(), categories=["terrestrial", "satellite"])
    return pos[["mmsi", "timestamp", "lat", "lon", "sog", "cog", "heading", "nav_status", "name", "imo", "callsign",
                "ship_type", "destination", "draught", "receiver_type"]]


def write_scenario(sc: Scenario, out_dir) -> dict:
    """``positions.parquet``, ``labels.csv``, ``vessels.csv``, ``events.csv``, ``world.json``;
    same scenario, same bytes."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from features.io import arrow_table
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = arrow_table(sc.positions).replace_schema_metadata(None)
    pq.write_table(table, out / "positions.parquet", compression="zstd", row_group_size=1_000_000)
    lab, ev = sc.labels.copy(), sc.events.copy()
    for frame in (lab, ev):
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
                frame[c] = frame[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    lab.to_csv(out / "labels.csv", index=False)
    sc.vessels.to_csv(out / "vessels.csv", index=False)
    ev.to_csv(out / "events.csv", index=False)
    (out / "world.json").write_text(json.dumps(sc.world, indent=1, sort_keys=True))
    return {"dir": str(out), "positions": str(out / "positions.parquet"), "labels": str(out / "labels.csv"),
            "vessels": str(out / "vessels.csv"), "events": str(out / "events.csv"), "world": str(out / "world.json")}
