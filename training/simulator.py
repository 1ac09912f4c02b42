"""A labelled Caspian traffic simulator, honest about AIS reception.

The model learns only what this simulator lets separate the classes, so three rules hold by
construction and are tested (``tests/test_simulator.py``):

1. Only behaviour separates suspicious from benign. Flag, ship type, size, age, reporting
   rate and service speed are drawn from the same distributions for both classes; suspicious
   vessels are picked among cargo ships and tankers independently of flag, and behave like
   everyone else outside their planted events.
2. Benign ships go dark too: satellite-only coverage in the open middle sea (gaps of one to
   several hours for every ship there), a thinner shore network on the Iranian coast,
   equipment faults, AIS switched off alongside, anchorage waits near sensitive ports,
   supply boats idling at platforms, stale declared destinations.
3. Labels are per observable voyage (from one reported port call to the next), so a voyage
   whose hidden call is the planted event is exactly the labelled interval.

Behaviours (parameters in :class:`SimConfig`; sources in ``docs/simulator.md``):

* benign: ``liner`` (cargo and tankers trading between Russian, Iranian and other Caspian
  ports), ``ferry`` (Alat-Turkmenbashi/Aktau/Kuryk rail-road ferries), ``supply`` (Baku to
  the oil-field platforms and back, AIS on);
* suspicious: ``dark_approach`` (AIS off approaching Amirabad or Anzali, on again after
  leaving; no reported call), ``dark_call_oab`` (leaves a Russian port southbound, goes dark
  long enough to call at an Iranian port, returns to its origin), ``dark_volga`` (AIS off on
  the last leg into the Volga channel, a stop at Olya/Astrakhan unreported), ``dark_loiter``
  and ``sts`` (loitering dark at sea, alone or meeting another ship), ``mmsi_change``,
  ``shared_mmsi`` (a second hull under the same MMSI), ``false_destination``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.geo import KM_PER_NM, bearing_deg, haversine_km

from .geography import Geography, load_geography

log = logging.getLogger(__name__)

#: AIS-style destination text per port (what crews type into the destination field).
AIS_NAME = {
    "RUASF": "ASTRAKHAN", "RUOYA": "OLYA", "RU-VCSC-N1": "ASTRAKHAN", "RUMCX": "MAKHACHKALA",
    "KZAAU": "AKTAU", "KZKUR": "KURYK", "KZBTN": "BAUTINO", "KZGUW": "ATYRAU", "TMKRW": "TURKMENBASHI",
    "TMZ7H": "HAZAR", "TM-EKERM": "EKEREM", "AZALA": "ALAT", "AZBAK": "BAKU", "AZSAN": "SANGACHAL",
    "IRBAZ": "BANDAR ANZALI", "IR-CASPN": "CASPIAN PORT", "IRASR": "ASTARA", "IRNSH": "NOWSHAHR",
    "IRFKR": "FEREYDUNKENAR", "IRBAM": "AMIRABAD", "IRNEK": "NEKA",
}
RU_PORTS = {"RUASF": 0.35, "RUOYA": 0.30, "RUMCX": 0.35}
IR_PORTS = {"IRBAZ": 0.28, "IRBAM": 0.28, "IR-CASPN": 0.14, "IRNEK": 0.10, "IRFKR": 0.08, "IRASR": 0.12}
OTHER_PORTS = {"KZAAU": 0.25, "AZALA": 0.25, "AZBAK": 0.15, "TMKRW": 0.2, "AZSAN": 0.05, "TMZ7H": 0.05, "TM-EKERM": 0.05}
MID = {"RU": 273, "IR": 422, "AZ": 423, "TM": 434, "KZ": 436}

#: Mix of suspicious profiles. The dark-call patterns dominate, as in public reporting; the
#: identity games are rarer and, from one MMSI's track, only partly observable.
SUSPICIOUS_BEHAVIOURS = {"dark_approach": 0.25, "dark_call_oab": 0.2, "dark_volga": 0.2, "dark_loiter": 0.08,
                         "sts": 0.1, "mmsi_change": 0.05, "shared_mmsi": 0.05, "false_destination": 0.07}


@dataclass(frozen=True)
class SimConfig:
    """Scenario parameters (units in the names)."""

    vessels: int = 600
    days: float = 60.0
    seed: int = 7
    start: str = "2024-10-01"
    #: Share of cargo ships and tankers given a suspicious profile (~10 % of the fleet).
    suspicious_share: float = 0.10
    #: Share of voyage labels flipped, as analysts' labels are not perfect.
    label_noise: float = 0.0
    #: Archive thinning: one fix every 60-180 s under way (Class A transmits every 2-10 s;
    #: archives keep one per 1-3 min), every 6-30 min at anchor or alongside.
    underway_interval_s: tuple[float, float] = (60.0, 180.0)
    moored_interval_s: tuple[float, float] = (360.0, 1800.0)
    #: Shore stations hear Class A out to ~30-40 nm.
    terrestrial_range_km: float = 60.0
    #: Share of fixes heard near the coast (station outages, VHF shadows) ...
    shore_detect_p: float = 0.97
    #: ... and on the thinner Iranian shore network (south of 38.6 N).
    iran_shore_detect_p: float = 0.80
    #: Beyond shore range only satellites hear ships: a pass every 1-4 h over the Caspian,
    #: ~10 min long, detecting a given ship's messages with this probability.
    sat_revisit_min: tuple[float, float] = (60.0, 240.0)
    sat_pass_min: float = 10.0
    sat_detect_p: float = 0.5
    #: AIS equipment faults per vessel-day and their length.
    fault_rate_per_day: float = 0.02
    fault_hours: tuple[float, float] = (3.0, 48.0)
    #: Benign ships that switch AIS off alongside (only arrival and departure are heard).
    off_at_berth_share: float = 0.15
    #: Benign voyages whose declared destination is stale.
    stale_destination_p: float = 0.08
    #: Northern Caspian ice season (Dec-Mar, north of 44.5 N): slower passages.
    ice_lat: float = 44.5
    ice_speed_factor: float = 0.6
    #: Share of a suspicious vessel's voyages that carry its behaviour: ships in these
    #: trades repeat the pattern (public reporting follows the same ships call after call).
    event_share: float = 0.5


# --- fleet ---------------------------------------------------------------------------------

TYPES = {  # share, AIS code, length m, service speed kn
    "general_cargo": (0.62, "70", (120.0, 141.0), (9.0, 12.0)),
    "tanker": (0.18, "80", (130.0, 150.0), (9.5, 12.0)),
    "ferry": (0.08, "60", (150.0, 155.0), (13.0, 15.0)),
    "supply": (0.12, "90", (55.0, 80.0), (10.0, 13.0)),
}
FLAG_SHARE = {  # per ship type: ferries and supply boats belong to the trans-Caspian states
    "general_cargo": {"RU": 0.45, "IR": 0.33, "AZ": 0.08, "KZ": 0.07, "TM": 0.07},
    "tanker": {"RU": 0.45, "IR": 0.33, "AZ": 0.08, "KZ": 0.07, "TM": 0.07},
    "ferry": {"AZ": 0.45, "TM": 0.25, "KZ": 0.15, "RU": 0.15},
    "supply": {"AZ": 0.5, "RU": 0.3, "KZ": 0.1, "IR": 0.1},
}
_NAME_A = ["VOLGO-DON", "VOLGO-BALT", "OMSKIY", "SORMOVSKIY", "SEPEHR", "PAYAM", "ARAZ", "KASPIY", "NEFTEGAZ",
           "BAKU", "RIVER", "AKTAU", "IRAN", "MERCURY", "KAPITAN", "LENA", "SHAMAL", "PARSA", "TEBRIZ", "DELTA"]


def _imo(rng) -> str:
    d = rng.integers(1, 10, 6)
    check = int(sum(int(x) * w for x, w in zip(d, range(7, 1, -1))) % 10)
    return "".join(map(str, d)) + str(check)


@dataclass
class Vessel:
    mmsi: int
    imo: str
    name: str
    callsign: str
    flag: str
    kind: str
    ship_type: str
    length: float
    built: int
    speed_kn: float
    underway_s: float
    moored_s: float
    draught: float
    profile: str = "benign"
    off_at_berth: bool = False
    home: str = ""


def make_fleet(cfg: SimConfig, rng: np.random.Generator, geo: Geography) -> list[Vessel]:
    kinds = list(TYPES)
    probs = np.array([TYPES[k][0] for k in kinds])
    fleet, used = [], set()
    for _ in range(cfg.vessels):
        kind = kinds[rng.choice(len(kinds), p=probs / probs.sum())]
        share, code, (l0, l1), (v0, v1) = TYPES[kind]
        flags = FLAG_SHARE[kind]
        flag = list(flags)[rng.choice(len(flags), p=np.array(list(flags.values())))]
        while True:
            mmsi = MID[flag] * 1_000_000 + int(rng.integers(100_000, 999_999))
            if mmsi not in used:
                used.add(mmsi)
                break
        # Fleet ages skew old: most river-sea ships were built 1975-1995.
        built = int(np.clip(rng.choice([rng.normal(1984, 7), rng.normal(2008, 6)], p=[0.7, 0.3]), 1965, 2023))
        fleet.append(Vessel(
            mmsi=mmsi, imo=_imo(rng), name=f"{_NAME_A[rng.integers(len(_NAME_A))]}-{rng.integers(1, 400)}",
            callsign=f"{flag[0]}{rng.integers(1000, 9999)}", flag=flag, kind=kind, ship_type=code,
            length=round(float(rng.uniform(l0, l1)), 1), built=built, speed_kn=float(rng.uniform(v0, v1)),
            underway_s=float(rng.uniform(*cfg.underway_interval_s)), moored_s=float(rng.uniform(*cfg.moored_interval_s)),
            draught=round(float(rng.uniform(3.0, 4.6)), 1)))
    # Suspicious profiles: among cargo ships and tankers, independent of flag and everything else.
    eligible = [v for v in fleet if v.kind in ("general_cargo", "tanker")]
    n_susp = int(round(cfg.suspicious_share * len(fleet)))
    pick = rng.choice(len(eligible), size=min(n_susp, len(eligible)), replace=False)
    names, w = list(SUSPICIOUS_BEHAVIOURS), np.array(list(SUSPICIOUS_BEHAVIOURS.values()))
    for i in pick:
        eligible[i].profile = names[rng.choice(len(names), p=w / w.sum())]
    for v in fleet:
        v.off_at_berth = v.profile == "benign" and rng.random() < cfg.off_at_berth_share
    return fleet


# --- trajectories ----------------------------------------------------------------------------

DEST_TEXT: list[str] = sorted(set(AIS_NAME.values()) | {"PLATFORM"})


def _dest_code(text: str) -> int:
    return DEST_TEXT.index(text)


@dataclass
class Track:
    """Fixes as parallel lists of arrays, plus AIS-off windows and observable trips."""

    t: list = field(default_factory=list)
    lat: list = field(default_factory=list)
    lon: list = field(default_factory=list)
    sog: list = field(default_factory=list)
    cog: list = field(default_factory=list)
    nav: list = field(default_factory=list)
    dest: list = field(default_factory=list)
    berth: list = field(default_factory=list)   # fix is alongside (for AIS-off-at-berth)
    mmsi: list = field(default_factory=list)
    off: list = field(default_factory=list)      # (t0, t1, keep_p)
    trips: list = field(default_factory=list)    # dicts: mmsi, start, end, behaviour

    def add(self, t, lat, lon, sog, cog, nav, dest, mmsi, berth=False):
        n = len(t)
        self.t.append(t); self.lat.append(lat); self.lon.append(lon); self.sog.append(sog)
        self.cog.append(cog); self.nav.append(np.full(n, nav, np.int8))
        self.dest.append(np.full(n, _dest_code(dest), np.int16)); self.berth.append(np.full(n, berth))
        self.mmsi.append(np.full(n, mmsi, np.int64))


class Planner:
    """Plans and renders one vessel's voyages over the scenario."""

    def __init__(self, v: Vessel, geo: Geography, cfg: SimConfig, rng: np.random.Generator, t0: float, t_end: float):
        self.v, self.geo, self.cfg, self.rng = v, geo, cfg, rng
        self.t_end = t_end
        self.track = Track()
        self.mmsi = v.mmsi
        self.t = t0
        self.last_dest: str | None = None

    # -- rendering ----------------------------------------------------------------------
    def _times(self, t0: float, t1: float, step: float) -> np.ndarray:
        n = max(int((t1 - t0) / step) + 2, 2)
        dt = step * self.rng.uniform(0.8, 1.2, n)
        t = t0 + np.concatenate([[0.0], np.cumsum(dt[:-1])])
        return t[t < t1]

    def sail(self, path: np.ndarray, dest: str, speed_kn: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sail ``path`` from ``self.t``; returns (cumulative time s, cumulative km) at vertices."""
        v = (speed_kn or self.v.speed_kn) * self.rng.uniform(0.95, 1.05)
        seg_km = haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
        mid_lat = (path[:-1, 0] + path[1:, 0]) / 2
        month = int(np.datetime64(int(self.t), "s").astype("datetime64[M]").astype(int) % 12) + 1
        ice = (month in (12, 1, 2, 3)) & (mid_lat > self.cfg.ice_lat)
        speed = np.where(ice, v * self.cfg.ice_speed_factor, v)
        seg_s = seg_km / (speed * KM_PER_NM) * 3600.0
        t_cum = self.t + np.concatenate([[0.0], np.cumsum(seg_s)])
        d_cum = np.concatenate([[0.0], np.cumsum(seg_km)])
        t = self._times(t_cum[0], t_cum[-1], self.v.underway_s)
        d = np.interp(t, t_cum, d_cum)
        lat = np.interp(d, d_cum, path[:, 0])
        lon = np.interp(d, d_cum, path[:, 1])
        k = np.clip(np.searchsorted(d_cum, d, side="right") - 1, 0, len(seg_km) - 1)
        brg = bearing_deg(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
        sog = np.maximum(speed[k] + self.rng.normal(0, 0.3, len(t)), 0.0)
        noise = 10.0 / 111_000.0  # ~10 m GPS noise
        self.track.add(t, lat + self.rng.normal(0, noise, len(t)), lon + self.rng.normal(0, noise, len(t)),
                       np.round(sog, 1), np.round((brg[k] + self.rng.normal(0, 2, len(t))) % 360, 1), 0, dest, self.mmsi)
        self.t = float(t_cum[-1])
        self.last_dest = dest
        return t_cum, d_cum

    def hold(self, lat: float, lon: float, hours: float, nav: int, dest: str, drift_km: float = 0.05,
             speed_kn: float = 0.1, berth: bool = False):
        """Stay near a point (berth, anchorage, platform) for ``hours``."""
        t1 = self.t + hours * 3600.0
        t = self._times(self.t, t1, self.v.moored_s if speed_kn < 0.5 else self.v.underway_s)
        n = len(t)
        # A slow random walk, bounded: ships swing at anchor, supply boats idle about platforms.
        walk = np.cumsum(self.rng.normal(0, 1, (n, 2)), axis=0)
        walk -= walk[0]  # start where the ship arrived
        walk = walk / max(np.abs(walk).max(), 1.0, np.sqrt(n) / 3) * drift_km
        lat_ = lat + walk[:, 0] / 111.0
        lon_ = lon + walk[:, 1] / (111.0 * np.cos(np.radians(lat)))
        sog = np.round(np.abs(self.rng.normal(speed_kn, speed_kn / 2 + 0.05, n)), 1)
        self.track.add(t, lat_, lon_, sog, np.round(self.rng.uniform(0, 360, n), 1), nav, dest, self.mmsi, berth)
        self.t = t1

    # -- voyages ------------------------------------------------------------------------
    def next_port(self, here: str) -> str:
        ports = set(self.geo.ports)
        if self.v.kind == "ferry":
            pool = {"AZALA": 1.0} if here != "AZALA" else {"TMKRW": 0.5, "KZAAU": 0.3, "KZKUR": 0.2}
        elif here in RU_PORTS:
            pool = {**{p: 0.6 * w for p, w in IR_PORTS.items()}, **{p: 0.4 * w for p, w in OTHER_PORTS.items()}}
        elif here in IR_PORTS:
            pool = {**{p: 0.75 * w for p, w in RU_PORTS.items()}, **{p: 0.25 * w for p, w in OTHER_PORTS.items()}}
        else:
            pool = {**{p: 0.5 * w for p, w in RU_PORTS.items()}, **{p: 0.3 * w for p, w in IR_PORTS.items()},
                    **{p: 0.2 * w for p, w in OTHER_PORTS.items()}}
        pool = {p: w for p, w in pool.items() if p in ports and p != here}
        names, w = list(pool), np.array(list(pool.values()))
        return names[self.rng.choice(len(names), p=w / w.sum())]

    def stay_hours(self) -> float:
        if self.v.kind == "ferry":
            return float(self.rng.uniform(6, 24))
        return float(np.clip(self.rng.lognormal(np.log(40), 0.5), 12, 140))  # one to several days

    def berth(self, port: str, hours: float, dest: str | None = None):
        """Alongside at ``port``. The destination field keeps what the arriving voyage
        declared until the crew sets the next one at departure."""
        lat, lon = self.geo.where(port)
        self.hold(lat, lon, hours, 5, dest or self.last_dest or AIS_NAME.get(port, port),
                  drift_km=0.03, berth=True)

    def voyage(self, a: str, b: str, declared: str | None = None, wait: bool = True):
        """Sail a -> b with a possible anchorage wait off b; returns the sail's (t, km) marks
        and the wait's time window."""
        path = self.geo.route(a, b)
        dest = declared or AIS_NAME.get(b, b)
        marks = []
        wait_at = None
        if wait and self.v.kind in ("general_cargo", "tanker") and self.rng.random() < 0.35 and len(path) > 2:
            # Queue at the approach (for the Volga ports: the canal's sea entrance).
            k = len(path) - 2
            if b in ("RUOYA", "RUASF"):  # bound up the Volga: queue at the canal's sea entrance
                for i, (la, lo) in enumerate(path):
                    if abs(la - 44.7633) < 1e-4 and abs(lo - 47.76) < 1e-4:
                        k = i
                        break
            marks.append(self.sail(path[:k + 1], dest))
            w0 = self.t
            self.hold(float(path[k, 0]), float(path[k, 1]), float(self.rng.uniform(2, 30)), 1, dest, drift_km=0.3)
            wait_at = (w0, self.t)
            marks.append(self.sail(path[k:], dest))
        else:
            marks.append(self.sail(path, dest))
        return marks, wait_at

    def time_at_km_from_end(self, marks, km: float) -> float:
        t_cum = np.concatenate([m[0] for m in marks])
        d_cum = np.concatenate([m[1] + sum(mm[1][-1] for mm in marks[:i]) for i, m in enumerate(marks)])
        return float(np.interp(max(d_cum[-1] - km, 0.0), d_cum, t_cum))

    def time_at_km_from_start(self, marks, km: float) -> float:
        t_cum = np.concatenate([m[0] for m in marks])
        d_cum = np.concatenate([m[1] + sum(mm[1][-1] for mm in marks[:i]) for i, m in enumerate(marks)])
        return float(np.interp(min(km, d_cum[-1]), d_cum, t_cum))

    def trip(self, start: float, behaviour: str, mmsi: int | None = None, end: float | None = None):
        self.track.trips.append({"mmsi": mmsi or self.mmsi, "start": start, "end": end if end is not None else self.t,
                                 "behaviour": behaviour})


def _simulate_vessel(v: Vessel, geo: Geography, cfg: SimConfig, rng, t_start: float, t_end: float,
                     rendezvous: dict, extra_mmsi: dict) -> Track:
    P = Planner(v, geo, cfg, rng, t_start - float(rng.uniform(0, 48)) * 3600.0, t_end)
    ports = geo.ports
    if v.kind == "supply":
        home = "AZBAK" if "AZBAK" in ports else "AZALA"
    elif v.kind == "ferry":
        home = "AZALA"
    else:
        pool = {**RU_PORTS, **IR_PORTS, **OTHER_PORTS}
        pool = {p: w for p, w in pool.items() if p in ports}
        home = list(pool)[rng.choice(len(pool), p=np.array(list(pool.values())) / sum(pool.values()))]
    v.home = home
    here = home
    P.berth(here, float(rng.uniform(2, 48)), AIS_NAME.get(here, here))
    per_trip = v.profile in ("dark_approach", "dark_call_oab", "dark_volga", "dark_loiter", "false_destination",
                             "mmsi_change")
    rv = rendezvous.get(v.mmsi)
    platforms = [p for p in ports if p.startswith("PLATFORM:")]
    mmsi_changed = False

    while P.t < t_end:
        dep = P.t
        due = per_trip and not mmsi_changed and rng.random() < cfg.event_share
        behaviour = v.profile if due else "normal"
        # Leave for a rendezvous when one more ordinary voyage (about two days, one day
        # alongside, then the way out) could not make it in time.
        to_rv = geo.route_km(here, rv["hub"]) / (v.speed_kn * KM_PER_NM) * 3600 if rv is not None else 0.0
        if rv is not None and not rv.get("done") and P.t + 3 * 86400 + 2 * to_rv > rv["t"]:
            # Rendezvous at sea (dark loitering, alone or ship to ship).
            path = geo.route_to_point(here, rv["point"])
            travel = float(np.sum(haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1]))) / (v.speed_kn * KM_PER_NM) * 3600
            if P.t + travel < rv["t"]:
                P.hold(*geo.where(here), (rv["t"] - travel - P.t) / 3600.0,
                       5, AIS_NAME.get(here, here), drift_km=0.03, berth=True)
                dep = P.t
            nxt = P.next_port(here)
            P.sail(path, AIS_NAME.get(nxt, nxt))
            arrive = P.t
            P.hold(rv["point"][0], rv["point"][1], max(rv["t"] + rv["hours"] * 3600 - P.t, rv["hours"] * 1800) / 3600.0, 0,
                   AIS_NAME.get(nxt, nxt), drift_km=1.0, speed_kn=0.3)
            P.track.off.append((arrive - rng.uniform(0.5, 3) * 3600, P.t + rng.uniform(0.5, 3) * 3600, 0.0))
            P.sail(geo.route_from_point(rv["point"], nxt), AIS_NAME.get(nxt, nxt))
            P.trip(dep, rv["behaviour"])
            rv["done"] = True
            here = nxt
            P.berth(here, P.stay_hours())
            continue

        if v.kind == "supply":
            plat = platforms[rng.integers(len(platforms))] if platforms else P.next_port(here)
            P.sail(geo.route(here, plat), "PLATFORM")
            lat, lon = geo.where(plat)
            P.hold(lat, lon, float(rng.uniform(6, 48)), 0, "PLATFORM", drift_km=0.8, speed_kn=0.6)
            P.sail(geo.route(plat, here), AIS_NAME.get(here, here))
            P.trip(dep, "normal")
            P.berth(here, float(rng.uniform(12, 48)))
            continue

        if behaviour in ("dark_approach", "dark_volga", "dark_call_oab"):
            if behaviour == "dark_approach":
                hidden = [p for p in ("IRBAM", "IRBAZ") if p in ports and p != here]
            elif behaviour == "dark_volga":
                hidden = [p for p in ("RUOYA", "RUASF") if p in ports and p != here]
            else:
                hidden = [p for p in IR_PORTS if p in ports] if here in RU_PORTS else []
            if not hidden:
                # Not placed for it yet: an ordinary voyage towards where it can happen.
                nxt = (list(p for p in RU_PORTS if p in ports)[rng.integers(len([p for p in RU_PORTS if p in ports]))]
                       if behaviour == "dark_call_oab" else P.next_port(here))
                P.voyage(here, nxt)
                P.trip(dep, "normal")
                here = nxt
                P.berth(here, P.stay_hours())
                continue
            H = hidden[rng.integers(len(hidden))]
            back = here if behaviour == "dark_call_oab" else P.next_port(H)
            shown = AIS_NAME.get(back, back)
            marks1, _ = P.voyage(here, H, declared=shown if behaviour != "dark_approach" else None, wait=False)
            km_out = marks1[-1][1][-1] + sum(m[1][-1] for m in marks1[:-1])
            if behaviour == "dark_call_oab":
                off_km = km_out * float(rng.uniform(0.4, 0.65))
            elif behaviour == "dark_volga":
                off_km = geo.route_km("RU-VCSC-N1", H) + float(rng.uniform(0, 60)) if "RU-VCSC-N1" in ports else 250.0
            else:
                off_km = float(rng.uniform(25, 90))
            t_off = P.time_at_km_from_end(marks1, off_km)
            P.berth(H, float(rng.uniform(12, 60)))
            marks2, _ = P.voyage(H, back, wait=False)
            t_on = P.time_at_km_from_start(marks2, off_km * float(rng.uniform(0.8, 1.2)))
            keep = 0.0 if rng.random() < 0.7 else 0.03  # some keep AIS partly on
            P.track.off.append((t_off, t_on, keep))
            P.trip(dep, behaviour)
            here = back
            P.berth(here, P.stay_hours())
            continue

        nxt = P.next_port(here)
        if behaviour == "dark_loiter":
            # Loiter dark somewhere along an ordinary voyage, well away from ports.
            path = geo.route(here, nxt)
            seg = haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
            d_cum = np.concatenate([[0.0], np.cumsum(seg)])
            at = d_cum[-1] * float(rng.uniform(0.3, 0.7))
            k = int(np.searchsorted(d_cum, at))
            f = (at - d_cum[k - 1]) / max(seg[k - 1], 1e-9)
            x = path[k - 1] + f * (path[k] - path[k - 1])
            shown = AIS_NAME.get(nxt, nxt)
            P.sail(np.vstack([path[:k], x]), shown)
            arrive = P.t
            P.hold(float(x[0]), float(x[1]), float(rng.uniform(8, 30)), 0, shown, drift_km=1.0, speed_kn=0.3)
            P.track.off.append((arrive - rng.uniform(0.3, 2) * 3600, P.t + rng.uniform(0.3, 2) * 3600,
                                0.0 if rng.random() < 0.7 else 0.03))
            P.sail(np.vstack([x, path[k:]]), shown)
            P.trip(dep, "dark_loiter")
            here = nxt
            P.berth(here, P.stay_hours())
            continue
        declared = None
        if behaviour == "false_destination":
            wrong = [p for p in ("RUMCX", "KZAAU", "AZALA", "TMKRW") if p in ports and p != nxt]
            declared = AIS_NAME[wrong[rng.integers(len(wrong))]]
        elif rng.random() < cfg.stale_destination_p:
            declared = AIS_NAME.get(here, here)  # the last port, never updated
        if behaviour == "mmsi_change" and not mmsi_changed:
            marks, _ = P.voyage(here, nxt, declared=declared, wait=False)
            t_sw = P.time_at_km_from_start(marks, (marks[-1][1][-1]) * float(rng.uniform(0.3, 0.7)))
            new = extra_mmsi[v.mmsi]
            for arr_t, arr_m in zip(P.track.t, P.track.mmsi):
                arr_m[arr_t >= t_sw] = new
            # Quiet for a while around the switch, then the "new" ship appears.
            P.track.off.append((t_sw - rng.uniform(0.5, 4) * 3600, t_sw + rng.uniform(0.5, 4) * 3600, 0.0))
            P.trip(dep, "mmsi_change", mmsi=v.mmsi, end=t_sw)
            P.mmsi = new
            P.trip(t_sw, "mmsi_change", mmsi=new)
            mmsi_changed = True
        else:
            P.voyage(here, nxt, declared=declared)
            P.trip(dep, behaviour if behaviour == "false_destination" else "normal")
        here = nxt
        P.berth(here, P.stay_hours())
    return P.track


def _receive(track: Track, v: Vessel, geo: Geography, cfg: SimConfig, rng, sat_passes: np.ndarray,
             t_start: float, t_end: float) -> pd.DataFrame:
    t = np.concatenate(track.t)
    keep = (t >= t_start) & (t < t_end)
    cols = {k: np.concatenate(getattr(track, k))[keep] for k in ("t", "lat", "lon", "sog", "cog", "nav", "dest", "berth", "mmsi")}
    n = len(cols["t"])
    coast = geo.coast_km(cols["lat"], cols["lon"])
    shore = coast <= cfg.terrestrial_range_km
    iran = cols["lat"] < 38.6
    p_shore = np.where(iran, cfg.iran_shore_detect_p, cfg.shore_detect_p)
    k = np.clip(np.searchsorted(sat_passes, cols["t"], side="right") - 1, 0, len(sat_passes) - 1)
    in_pass = (cols["t"] - sat_passes[k]) < cfg.sat_pass_min * 60.0
    u = rng.random(n)
    heard_shore = shore & (u < p_shore)
    heard_sat = ~heard_shore & in_pass & (rng.random(n) < cfg.sat_detect_p)
    on = heard_shore | heard_sat
    # AIS off: planted events, equipment faults, and (for some) alongside.
    days = (t_end - t_start) / 86400.0
    n_faults = rng.poisson(cfg.fault_rate_per_day * days)
    windows = list(track.off)
    for _ in range(n_faults):
        f0 = rng.uniform(t_start, t_end)
        windows.append((f0, f0 + rng.uniform(*cfg.fault_hours) * 3600.0, 0.0))
    for w0, w1, keep_p in windows:
        inside = (cols["t"] >= w0) & (cols["t"] < w1)
        # "Partly on" means the odd fix out at sea; a hidden call stays hidden.
        on &= ~inside | ((rng.random(n) < keep_p) & (coast > 25.0))
    if v.off_at_berth:
        b = cols["berth"]
        # Heard only in the first and last half hour alongside.
        start = np.r_[True, ~b[:-1]] & b
        run = np.cumsum(start)
        first_t = pd.Series(cols["t"]).groupby(run).transform("min").to_numpy()
        last_t = pd.Series(cols["t"]).groupby(run).transform("max").to_numpy()
        on &= ~b | (cols["t"] - first_t < 1800) | (last_t - cols["t"] < 1800)
    sel = np.flatnonzero(on)
    out = pd.DataFrame({
        "mmsi": cols["mmsi"][sel],
        "timestamp": pd.to_datetime(np.round(cols["t"][sel]).astype(np.int64), unit="s", utc=True),
        "lat": np.round(cols["lat"][sel], 6), "lon": np.round(cols["lon"][sel], 6),
        "sog": cols["sog"][sel], "cog": cols["cog"][sel],
        "heading": np.round((cols["cog"][sel] + rng.normal(0, 3, len(sel))) % 360).astype(np.int64),
        "nav_status": cols["nav"][sel].astype(np.int64),
        "destination": cols["dest"][sel],
        "receiver_type": np.where(heard_shore[sel], 0, 1).astype(np.int8),
    })
    return out


@dataclass
class Scenario:
    positions: pd.DataFrame
    labels: pd.DataFrame
    vessels: pd.DataFrame


def simulate(cfg: SimConfig = SimConfig(), progress=None) -> Scenario:
    """Simulate the scenario; deterministic per ``cfg`` (seed included)."""
    rng = np.random.default_rng(cfg.seed)
    geo = load_geography()
    t_start = pd.Timestamp(cfg.start, tz="UTC").timestamp()
    t_end = t_start + cfg.days * 86400.0
    fleet = make_fleet(cfg, rng, geo)
    # Satellite passes over the Caspian: shared by every ship.
    gaps = rng.uniform(*cfg.sat_revisit_min, int(cfg.days * 24 * 60 / cfg.sat_revisit_min[0]) + 10) * 60.0
    sat_passes = t_start - 86400 * 3 + np.cumsum(gaps)
    # Rendezvous points for dark loitering and ship-to-ship meetings, on open-water lanes.
    lanes = geo.lane_points()
    rendezvous: dict[int, dict] = {}
    sts = [v for v in fleet if v.profile == "sts"]
    for i in range(0, len(sts) - 1, 2):
        a = lanes[rng.integers(len(lanes))]
        a = (float(a[0]) + rng.uniform(-0.15, 0.15), float(a[1]) + rng.uniform(-0.15, 0.15))
        if not geo.on_water([a[0]], [a[1]])[0]:
            a = tuple(map(float, lanes[0]))
        ev = {"point": a, "t": t_start + rng.uniform(0.25, 0.75) * cfg.days * 86400, "hours": float(rng.uniform(8, 30)),
              "behaviour": "sts", "hub": None}
        for v in (sts[i], sts[i + 1]):
            rendezvous[v.mmsi] = dict(ev)
    if len(sts) % 2:
        sts[-1].profile = "dark_loiter"
    for ev in rendezvous.values():
        ev["hub"] = min((p for p in geo.ports if not p.startswith("PLATFORM")),
                        key=lambda p: float(haversine_km(*geo.where(p), *ev["point"])))
    used = {v.mmsi for v in fleet}
    extra_mmsi = {}
    for v in fleet:
        if v.profile == "mmsi_change":
            flag = list(MID)[rng.integers(len(MID))]
            while True:
                m = MID[flag] * 1_000_000 + int(rng.integers(100_000, 999_999))
                if m not in used:
                    used.add(m)
                    extra_mmsi[v.mmsi] = m
                    break
    # A second hull for each shared-MMSI vessel: same identity, elsewhere, for part of the time.
    twins = []
    for v in fleet:
        if v.profile == "shared_mmsi":
            twin = Vessel(**{**v.__dict__, "profile": "shared_mmsi_twin", "speed_kn": float(rng.uniform(9, 12)),
                             "underway_s": float(rng.uniform(*cfg.underway_interval_s))})
            twins.append((v, twin, t_start + rng.uniform(0.1, 0.5) * cfg.days * 86400, float(rng.uniform(10, 25)) * 86400))

    parts, labels = [], []
    for i, v in enumerate(fleet):
        track = _simulate_vessel(v, geo, cfg, rng, t_start, t_end, rendezvous, extra_mmsi)
        parts.append(_receive(track, v, geo, cfg, rng, sat_passes, t_start, t_end))
        labels += [{**trip, "vessel": i} for trip in track.trips]
        if progress:
            progress(i + 1, len(fleet))
    for v, twin, w0, wlen in twins:
        track = _simulate_vessel(twin, geo, cfg, rng, w0, min(w0 + wlen, t_end), {}, {})
        parts.append(_receive(track, twin, geo, cfg, rng, sat_passes, w0, min(w0 + wlen, t_end)))
        labels.append({"mmsi": v.mmsi, "start": w0, "end": min(w0 + wlen, t_end), "behaviour": "shared_mmsi", "vessel": -1})
    pos = pd.concat(parts, ignore_index=True)
    # Identity and text columns as categories: one string per value, not per fix.
    hulls = {v.mmsi: v for v in fleet}
    hulls.update({m: hulls[mm] for mm, m in extra_mmsi.items()})
    ident_mmsi = np.array(sorted(hulls))
    at = np.searchsorted(ident_mmsi, pos["mmsi"].to_numpy())
    t_us = np.asarray(pos["timestamp"].dt.as_unit("us").array.asi8)
    order = np.lexsort((pos["lat"].to_numpy(), pos["mmsi"].to_numpy(), t_us))  # feed order
    pos = pos.take(order).reset_index(drop=True)
    at = at[order]

    def cat(values: list[str]) -> pd.Categorical:
        cats = sorted(set(values))
        codes = np.array([cats.index(x) for x in values])[at]
        return pd.Categorical.from_codes(codes, categories=cats)

    vs = [hulls[m] for m in ident_mmsi]
    pos["name"] = cat([v.name for v in vs])
    pos["imo"] = cat([v.imo for v in vs])
    pos["callsign"] = cat([v.callsign for v in vs])
    pos["ship_type"] = cat([v.ship_type for v in vs])
    pos["draught"] = np.array([v.draught for v in vs])[at]
    pos["destination"] = pd.Categorical.from_codes(pos["destination"].to_numpy(), categories=DEST_TEXT)
    pos["receiver_type"] = pd.Categorical.from_codes(pos["receiver_type"].to_numpy(), categories=["terrestrial", "satellite"])
    pos = pos[["mmsi", "timestamp", "lat", "lon", "sog", "cog", "heading", "nav_status", "name", "imo", "callsign",
               "ship_type", "destination", "draught", "receiver_type"]]
    lab = _labels(labels, fleet, cfg, rng, t_start, t_end)
    ves = pd.DataFrame([{"mmsi": v.mmsi, "imo": v.imo, "name": v.name, "flag": v.flag, "ship_type": v.ship_type,
                         "kind": v.kind, "length": v.length, "built": v.built, "service_speed_kn": round(v.speed_kn, 2),
                         "report_interval_s": round(v.underway_s, 1), "home_port": v.home, "profile": v.profile,
                         "new_mmsi": extra_mmsi.get(v.mmsi, "")} for v in fleet])
    return Scenario(pos, lab, ves)


def _labels(trips, fleet, cfg, rng, t_start, t_end) -> pd.DataFrame:
    rows = []
    for trip in trips:
        # A voyage cut by either end of the scenario is unlabelled: its planted event may
        # lie outside the data, and nobody could label what was never seen.
        if (trip["end"] > t_end or trip["start"] < t_start) and trip["behaviour"] != "shared_mmsi":
            continue
        start, end = max(trip["start"], t_start), min(trip["end"], t_end)
        if end <= start:
            continue
        susp = trip["behaviour"] not in ("normal",)
        rows.append({"mmsi": trip["mmsi"], "start": start, "end": end, "label": "suspicious" if susp else "benign",
                     "behaviour": trip["behaviour"] if susp else "normal", "source": "simulator", "note": ""})
    lab = pd.DataFrame(rows)
    # The shared-MMSI window covers both hulls' voyages: it replaces their own labels there.
    shared = lab[lab["behaviour"] == "shared_mmsi"]
    drop = np.zeros(len(lab), bool)
    for s in shared.itertuples():
        drop |= ((lab["mmsi"] == s.mmsi) & (lab["behaviour"] != "shared_mmsi") & (lab["start"] < s.end) & (lab["end"] > s.start)).to_numpy()
    lab = lab[~drop].copy()
    flip = rng.random(len(lab)) < cfg.label_noise
    lab.loc[flip, "label"] = np.where(lab.loc[flip, "label"] == "suspicious", "benign", "suspicious")
    lab.loc[flip, "note"] = "label noise: flipped on purpose"
    lab["start"] = pd.to_datetime(lab["start"], unit="s", utc=True).dt.floor("s")
    lab["end"] = pd.to_datetime(lab["end"], unit="s", utc=True).dt.floor("s")
    return lab.sort_values(["mmsi", "start"], kind="stable").reset_index(drop=True)


def write_scenario(sc: Scenario, out_dir) -> dict:
    """``positions.parquet``, ``labels.csv``, ``vessels.csv``; same scenario, same bytes."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from features.io import arrow_table
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = arrow_table(sc.positions).replace_schema_metadata(None)
    pq.write_table(table, out / "positions.parquet", compression="zstd", row_group_size=1_000_000)
    lab = sc.labels.copy()
    for c in ("start", "end"):
        lab[c] = lab[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    lab.to_csv(out / "labels.csv", index=False)
    sc.vessels.to_csv(out / "vessels.csv", index=False)
    return {"positions": str(out / "positions.parquet"), "labels": str(out / "labels.csv"),
            "vessels": str(out / "vessels.csv")}
