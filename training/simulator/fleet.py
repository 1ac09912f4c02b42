"""The fleet: ships with habits drawn from the world alone, and suspicious profiles laid on
top of some cargo ships and tankers, independently of flag and habits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import behaviours as B
from .feed import FeedHabits, draw_habits
from .world import World

MID = {"RU": 273, "IR": 422, "AZ": 423, "TM": 434, "KZ": 436}
#: Mix of suspicious profiles: the dark-call patterns dominate, as in public reporting.
SUSPICIOUS_MIX = {"dark_approach": 0.24, "dark_call_oab": 0.2, "dark_volga": 0.2, "dark_loiter": 0.1,
                  "sts": 0.15, "mmsi_change": 0.04, "shared_mmsi": 0.03, "false_destination": 0.04,
                  "spoofing": 0.04}
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
    off_at_berth: bool
    twin: str = ""
    weak: bool = False
    profile: str = "benign"
    event_share: float = 0.0
    home: str = ""
    new_mmsi: int = 0
    new_name: str = ""       # the identity after new_mmsi: name, call sign, IMO ("" = none sent)
    new_callsign: str = ""
    new_imo: str = ""
    changed: bool = False
    rendezvous: dict | None = None
    feed: FeedHabits | None = None  # what it sends besides positions (training/simulator/feed.py)


def _imo(rng) -> str:
    d = rng.integers(1, 10, 6)
    return "".join(map(str, d)) + str(int(sum(int(x) * w for x, w in zip(d, range(7, 1, -1))) % 10))


def _new_mmsi(rng, flag: str, used: set) -> int:
    while True:
        m = MID[flag] * 1_000_000 + int(rng.integers(100_000, 999_999))
        if m not in used:
            used.add(m)
            return m


def make_fleet(vessels: int, suspicious_share: float, world: World, rng: np.random.Generator) -> list[Vessel]:
    """``vessels`` ships with habits drawn from the world alone; profiles laid on top, independently,
    on ``suspicious_share`` of them (among cargo ships and tankers)."""
    kinds = list(TYPES)
    probs = np.array([TYPES[k][0] for k in kinds])
    fleet, used = [], set()
    for _ in range(vessels):
        kind = kinds[rng.choice(len(kinds), p=probs / probs.sum())]
        _, code, (l0, l1), (v0, v1) = TYPES[kind]
        flags = FLAG_SHARE[kind]
        flag = list(flags)[rng.choice(len(flags), p=np.array(list(flags.values())))]
        # Fleet ages skew old: most river-sea ships were built 1975-1995.
        built = int(np.clip(rng.choice([rng.normal(1984, 7), rng.normal(2008, 6)], p=[0.7, 0.3]), 1965, 2023))
        twins = B.TWINS[kind]
        fleet.append(Vessel(
            mmsi=_new_mmsi(rng, flag, used), imo=_imo(rng), name=f"{_NAME_A[rng.integers(len(_NAME_A))]}-{rng.integers(1, 400)}",
            callsign=f"{flag[0]}{rng.integers(1000, 9999)}", flag=flag, kind=kind, ship_type=code,
            length=round(float(rng.uniform(l0, l1)), 1), built=built,
            speed_kn=float(rng.uniform(v0, v1) * world.speed_factor),
            underway_s=float(rng.uniform(world.underway_interval_lo_s, world.underway_interval_hi_s)),
            moored_s=float(rng.uniform(world.moored_interval_lo_s, world.moored_interval_hi_s)),
            draught=round(float(rng.uniform(3.0, 4.6)), 1),
            off_at_berth=bool(rng.random() < world.off_at_berth_share),
            twin=twins[rng.integers(len(twins))] if rng.random() < world.twin_vessel_share else ""))
    feed_seed = int(rng.integers(2**31))  # each ship's text habits come from its own stream
    for v in fleet:
        v.weak = v.twin == "twin_satellite_only"
        v.feed = draw_habits(v.mmsi, v.kind, v.name, world, feed_seed)
    # Suspicious profiles: among cargo ships and tankers, independent of flag and habits.
    eligible = [v for v in fleet if v.kind in ("general_cargo", "tanker")]
    n_susp = min(int(round(suspicious_share * len(fleet))), len(eligible))
    for i, profile in zip(rng.choice(len(eligible), size=n_susp, replace=False), _profiles(n_susp, rng)):
        v = eligible[i]
        v.profile = profile
        v.event_share = float(rng.uniform(world.event_share_lo, world.event_share_hi))  # repeat offenders
        if v.profile == "mmsi_change":
            _new_identity(v, rng, used, renamed=rng.random() < world.mmsi_change_static_p,
                          imo_kept=rng.random() < world.mmsi_change_imo_kept_p)
    for v in fleet:  # a registered sale: new owner, flag, name and call sign; the IMO stays
        if v.twin == "twin_registered_sale" and v.profile not in NO_SALE:
            _new_identity(v, rng, used, renamed=True, imo_kept=True)
    return fleet


#: Profiles whose identity the plan already uses (a planned change, a partner's name for the
#: meeting, a second hull): no registered sale on top.
NO_SALE = ("mmsi_change", "sts", "shared_mmsi")


def _new_identity(v: Vessel, rng: np.random.Generator, used: set, renamed: bool, imo_kept: bool) -> None:
    """The MMSI (a new flag's) and static data ``v`` goes on with after a change of identity."""
    flag = list(MID)[rng.integers(len(MID))]
    v.new_mmsi = _new_mmsi(rng, flag, used)
    v.new_name = f"{_NAME_A[rng.integers(len(_NAME_A))]}-{rng.integers(1, 400)}" if renamed else v.name
    v.new_callsign = f"{flag[0]}{rng.integers(1000, 9999)}" if renamed else v.callsign
    v.new_imo = v.imo if imo_kept else ""


def _profiles(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` suspicious profiles in the proportions of :data:`SUSPICIOUS_MIX` (largest remainder,
    shuffled): a scenario's mix is a parameter, not a draw, so no scenario is by chance half
    identity games."""
    w = np.array(list(SUSPICIOUS_MIX.values()))
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[:n - counts.sum()]] += 1
    out = np.repeat(np.array(list(SUSPICIOUS_MIX)), counts)
    rng.shuffle(out)
    return [str(x) for x in out]


#: Small craft that keep an installer's default MMSI: fishing and service boats of Baku's
#: fields, ship type 30 (fishing), 12-30 m, 7-9 kn.
SMALL_CRAFT = ("30", (12.0, 30.0), (7.0, 9.0))


def default_mmsi_boats(world: World, rng: np.random.Generator, feed_seed: int) -> list[Vessel]:
    """``world.default_mmsi_boats`` small craft sharing one default MMSI (an Azerbaijani MID +
    000000), each with its own name and no IMO or call sign: benign, the look-alike of two
    hulls on one number (``twin_default_mmsi``)."""
    code, (l0, l1), (v0, v1) = SMALL_CRAFT
    mmsi = MID["AZ"] * 1_000_000
    boats = []
    for k in range(int(world.default_mmsi_boats)):
        v = Vessel(mmsi=mmsi, imo="", name=f"{_NAME_A[rng.integers(len(_NAME_A))]}-{rng.integers(1, 99)}", callsign="",
                   flag="AZ", kind="small_craft", ship_type=code, length=round(float(rng.uniform(l0, l1)), 1),
                   built=int(rng.integers(1990, 2020)), speed_kn=float(rng.uniform(v0, v1)),
                   underway_s=float(rng.uniform(world.underway_interval_lo_s, world.underway_interval_hi_s)),
                   moored_s=float(rng.uniform(world.moored_interval_lo_s, world.moored_interval_hi_s)),
                   draught=round(float(rng.uniform(1.5, 3.0)), 1), off_at_berth=False, twin="twin_default_mmsi")
        v.feed = draw_habits(mmsi + k, "supply", v.name, world, feed_seed)
        boats.append(v)
    return boats
