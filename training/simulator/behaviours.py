"""What ships do, one function per behaviour, and one ship's life as a sequence of voyages.

Every ship lives the same ordinary life (``normal``): the same trade routes, queues and port
stays, drawn from the world whatever its profile (what its crew types in the destination field
is ``training/simulator/feed.py``'s, by habit). On some voyages a suspicious ship plants its behaviour
instead, and on some voyages a ship with a benign habit does a look-alike ("twin"): a gap of
similar length in a similar place that a careful analyst tells apart by what
``docs/simulator.md`` lists. A behaviour runs only where it can happen
(:data:`APPLIES`): a dark call at Amirabad only on a voyage that was going to Amirabad anyway.

Each function sails the voyage from port ``here`` (planned next port ``nxt``), records the
observable trip (from one reported port call to the next) and returns ``(port, stay_h)``: where
the ship is now alongside, and for how long (None: an ordinary stay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.geo import KM_PER_NM

from .planner import CANAL_ENTRANCE, Planner, ais_name, deliberate, open_sea_split, path_km, split_path, time_at_km

RU_PORTS = {"RUASF": 0.35, "RUOYA": 0.30, "RUMCX": 0.35}
IR_PORTS = {"IRBAZ": 0.28, "IRBAM": 0.28, "IR-CASPN": 0.14, "IRNEK": 0.10, "IRFKR": 0.08, "IRASR": 0.12}
OTHER_PORTS = {"KZAAU": 0.25, "AZALA": 0.25, "AZBAK": 0.15, "TMKRW": 0.2, "AZSAN": 0.05, "TMZ7H": 0.05, "TM-EKERM": 0.05}
VOLGA = ("RUOYA", "RUASF")
SENSITIVE_IR = ("IRBAM", "IRBAZ")
SENSITIVE = ("RUASF", "RUOYA", "RUMCX", "IRBAZ", "IRBAM")
NON_SENSITIVE = tuple(p for p in {**IR_PORTS, **OTHER_PORTS} if p not in SENSITIVE)
#: Where a dark Iran -> Volga arrival shows up again, equally often.
VOLGA_REAPPEAR = ("sea", "channel", "delta", "berth")
#: It goes dark 20 km out of the Iranian port .. this share of the way (a crossing mostly dark,
#: or only its northern part), and waits 2-48 h at anchor in the delta when it shows up there.
VOLGA_OFF_SHARE_MAX = 0.85
VOLGA_DELTA_HOLD_H = (2.0, 48.0)
#: The smallest dark stretch a behaviour plants (h): shorter would not be a planted event.
MIN_DARK_H = 3.0
#: Ships stop at sea off the lane as often as on it: a detour of this many km (uniform) to a
#: meeting place or a lee off a coast, with this probability.
LOITER_DETOUR_KM = (10.0, 80.0)
LOITER_DETOUR_P = 0.5

SUSPICIOUS = ("dark_approach", "dark_call_oab", "dark_volga", "dark_loiter", "sts", "mmsi_change", "shared_mmsi",
              "false_destination", "spoofing")
DARK = ("dark_approach", "dark_call_oab", "dark_volga", "dark_loiter", "sts")
#: Behaviours with AIS on that show only while their event lasts inside the window (made-up
#: positions): labelled as the dark ones are, by what the window shows.
SPOOFED = ("spoofing",)
#: Benign look-alikes per ship kind.
TWINS = {
    "general_cargo": ("twin_call_then_outage", "twin_outage_unseen_call", "twin_straight_gap", "twin_drift",
                      "twin_turn_back", "twin_delta_queue", "twin_berth_off_sensitive", "twin_changed_orders",
                      "twin_registered_sale"),
    "tanker": ("twin_call_then_outage", "twin_outage_unseen_call", "twin_straight_gap", "twin_drift",
               "twin_turn_back", "twin_delta_queue", "twin_berth_off_sensitive", "twin_changed_orders",
               "twin_registered_sale"),
    "ferry": ("twin_satellite_only", "twin_straight_gap", "twin_drift", "twin_call_then_outage"),
    "supply": ("twin_platform_dark",),
}


def _event(t0, t1, lat=np.nan, lon=np.nan, port="", partner=0, keep=0.0, ais="off") -> dict:
    """A planted event's truth: AIS-off (or event) interval in s, place, hidden port, partner,
    the share of fixes kept while "partly on", and the AIS state (off, partly on, on)."""
    return {"t0": float(t0), "t1": float(t1), "lat": float(lat), "lon": float(lon), "port": port, "partner": partner,
            "keep": float(keep), "ais": "partly on" if keep > 0 else ais}


# --- ordinary ------------------------------------------------------------------------------

def normal(P: Planner, here: str, nxt: str, dep: float):
    P.voyage(here, nxt)
    P.trip(dep, "normal")
    return nxt, None


def supply_trip(P: Planner, here: str, nxt: str, dep: float, dark: bool = False):
    """Baku to a platform and back; with ``dark``, AIS off while idling there (a benign twin
    of an out-and-back with a hidden call)."""
    plats = [p for p in P.geo.ports if p.startswith("PLATFORM:")] or [nxt]
    plat = plats[P.rng.integers(len(plats))]
    P.sail(P.geo.route(here, plat), "PLATFORM")
    lat, lon = P.geo.where(plat)
    t0 = P.t
    P.hold(lat, lon, float(P.rng.uniform(6, 48)), 0, "PLATFORM", drift_km=0.8, speed_kn=0.6)
    if dark:
        P.off(t0 + 1800.0, P.t - 900.0)
    ev = _event(t0 + 1800.0, P.t - 900.0, lat, lon, plat) if dark else None
    P.sail(P.geo.route(plat, here), ais_name(here))
    P.trip(dep, "twin_platform_dark" if dark else "normal", ev)
    return here, float(P.rng.uniform(12, 48))


# --- suspicious ----------------------------------------------------------------------------

def _go_dark_before(P: Planner, here: str, port: str, off_km: float, dest: str) -> tuple[float, np.ndarray]:
    """Sail here -> port, AIS off ``off_km`` before it (after a visible slow-down, sometimes)."""
    path = P.geo.route(here, port)
    head, tail, x = split_path(path, path_km(path) - min(off_km, 0.9 * path_km(path)))
    P.sail(head, dest)
    P.maybe_wait(x, dest)
    if P.rng.random() < P.world.slowdown_p:
        P.hold(float(x[0]), float(x[1]), float(P.rng.uniform(1, 4)), 0, dest, drift_km=1.0,
               speed_kn=float(P.rng.uniform(2, 5)))
    t_off = P.t
    P.sail(tail, dest)
    return t_off, x


def _reappear_km(P: Planner, marks: list, near_km: float) -> float:
    """Back on near where it went dark (mirrored), or anywhere along the way."""
    total = sum(m[1][-1] for m in marks)
    if P.rng.random() < P.world.reappear_elsewhere_p:
        return float(P.rng.uniform(0.1, 0.9) * total)
    return float(min(near_km * P.rng.uniform(0.8, 1.2), 0.95 * total))


def dark_approach(P: Planner, here: str, port: str, dep: float):
    """AIS off approaching Amirabad/Anzali, on again after leaving; the call never reported."""
    nxt = next_port(P, port)
    declared = ais_name(port) if P.rng.random() < 0.5 else ais_name(nxt)
    t_off, x = _go_dark_before(P, here, port, float(P.rng.uniform(20, P.world.approach_off_km_max)), declared)
    P.berth(port, float(P.rng.uniform(6, P.world.hidden_stay_h_max)))
    marks = P.voyage(port, nxt)
    t_on = time_at_km(marks, _reappear_km(P, marks, float(P.rng.uniform(20, P.world.approach_off_km_max))))
    return _dark_trip(P, "dark_approach", dep, t_off, t_on, x, port, nxt)


def dark_call_oab(P: Planner, here: str, port: str, dep: float):
    """Leaves a Russian port, goes dark 30-550 km before an Iranian port, calls there, comes back."""
    declared = ais_name(here) if P.rng.random() < 0.5 else None
    off_km = float(P.rng.uniform(30, P.world.oab_off_km_max))
    t_off, x = _go_dark_before(P, here, port, off_km, declared or ais_name(port))
    P.berth(port, float(P.rng.uniform(6, P.world.hidden_stay_h_max)))
    marks = P.voyage(port, here, declared)
    t_on = time_at_km(marks, _reappear_km(P, marks, off_km))
    return _dark_trip(P, "dark_call_oab", dep, t_off, t_on, x, port, here)


def _dark_trip(P: Planner, name: str, dep: float, t_off: float, t_on: float, x, port: str, at: str):
    keep = P.keep_share()
    P.off(t_off, t_on, keep)
    P.trip(dep, name, _event(t_off, t_on, x[0], x[1], port, keep=keep))
    return at, None


def dark_volga(P: Planner, here: str, river: str, dep: float):
    """Iran -> Olya/Astrakhan with no observed call: dark soon after leaving Iran, back on at sea
    after the call, in the channel, at anchor in the delta, or alongside."""
    path = P.geo.route(here, river)
    head, tail, x = split_path(path, float(P.rng.uniform(20, VOLGA_OFF_SHARE_MAX * path_km(path))))
    P.sail(head, ais_name(river))
    P.maybe_wait(x, ais_name(river))
    t_off = P.t
    P.sail(tail, ais_name(river))
    mode = VOLGA_REAPPEAR[P.rng.integers(len(VOLGA_REAPPEAR))]
    stay = P.stay_hours()
    if mode == "berth":  # on again alongside: the arrival was dark
        t_on = P.t + stay * 3600 * float(P.rng.uniform(0.2, 0.8))
        keep = P.keep_share()
        P.off(t_off, t_on, keep)
        P.trip(dep, "dark_volga", _event(t_off, t_on, x[0], x[1], river, keep=keep))
        return river, stay
    P.berth(river, stay)
    nxt = next_port(P, river)
    entrance = P.geo.where(CANAL_ENTRANCE)
    if mode == "delta":  # down the channel dark, at anchor in the delta roadstead, on again there
        P.sail(P.geo.route(river, CANAL_ENTRANCE), ais_name(nxt))
        hold_h = float(P.rng.uniform(*VOLGA_DELTA_HOLD_H))
        t_on = P.t + hold_h * 3600 * float(P.rng.uniform(0.1, 0.6))
        P.anchor(*entrance, hold_h, ais_name(nxt), port_visit=False)  # its trip is cut at t_on below
        keep = P.keep_share()
        P.off(t_off, t_on, keep)
        P.trip(dep, "dark_volga", _event(t_off, t_on, x[0], x[1], river, keep=keep), end=t_on)
        dep2 = t_on
        P.voyage(CANAL_ENTRANCE, nxt)
        P.trip(dep2, "normal")
        return nxt, None
    marks = P.voyage(river, nxt)
    channel_km = P.geo.route_km(river, CANAL_ENTRANCE)
    on_km = float(P.rng.uniform(5, channel_km)) if mode == "channel" else channel_km + float(P.rng.uniform(20, 200))
    t_on = time_at_km(marks, on_km)
    return _dark_trip(P, "dark_volga", dep, t_off, t_on, x, river, nxt)


def dark_loiter(P: Planner, here: str, nxt: str, dep: float):
    """Loiters dark at sea on an ordinary voyage: on the lane or off it (:func:`loiter_spot`),
    still or drifting, for 4 h .. ``loiter_h_max``."""
    spot = loiter_spot(P, here, nxt)
    if spot is None:
        return normal(P, here, nxt, dep)
    dest = ais_name(nxt)
    arrive, left = loiter_at(P, spot, float(P.rng.uniform(4, P.world.loiter_h_max)), dest)
    t_off, t_on = arrive - P.rng.uniform(0.3, 2) * 3600, left + P.rng.uniform(0.3, 2) * 3600
    return _dark_trip(P, "dark_loiter", dep, t_off, t_on, spot.where, "", nxt)


@dataclass(frozen=True)
class Spot:
    """Where a ship stops at sea on its way: the lane cut at ``x`` (``head``, ``tail``), and the
    place it stops, ``where`` (``x`` itself, or off the lane)."""
    head: np.ndarray
    tail: np.ndarray
    x: np.ndarray
    where: np.ndarray


def loiter_spot(P: Planner, here: str, nxt: str) -> Spot | None:
    """A stop at sea on the way here -> nxt, between 15 % and 85 % of the way in open water: on
    the lane, or with probability :data:`LOITER_DETOUR_P` a detour of :data:`LOITER_DETOUR_KM`
    to a place off it (a meeting place, a lee off a coast; on water, >= 8 km from shore).
    None when the way has no open water. Dark loiterers and drifting twins stop alike."""
    cut = open_sea_split(P.geo, P.geo.route(here, nxt), P.rng, lo=0.15, hi=0.85)
    if cut is None:
        return None
    head, tail, x = cut
    where = x
    if P.rng.random() < LOITER_DETOUR_P:
        for km, brg in zip(P.rng.uniform(*LOITER_DETOUR_KM, 8), np.radians(P.rng.uniform(0, 360, 8))):
            cand = np.array([x[0] + km / 111.0 * np.cos(brg), x[1] + km / (111.0 * np.cos(np.radians(x[0]))) * np.sin(brg)])
            if P.geo.coast_km([cand[0]], [cand[1]])[0] >= 8.0 and P.geo.segment_wet(x, cand):
                where = cand
                break
    return Spot(head, tail, x, where)


def loiter_at(P: Planner, spot: Spot, hours: float, dest: str) -> tuple[float, float]:
    """Sail to the spot, stay there ``hours`` (still, or drifting up to 8 km at up to 1.5 kn),
    sail on; returns the times it arrived and left (s)."""
    P.sail(spot.head, dest)
    detour = spot.where is not spot.x
    if detour:
        P.sail(np.vstack([spot.x, spot.where]), dest)
    arrive = P.t
    # Drift stays clear of the shore (the coast raster is 0.05 deg: keep 3 km in hand).
    room = float(P.geo.coast_km([spot.where[0]], [spot.where[1]])[0]) - 3.0
    P.hold(float(spot.where[0]), float(spot.where[1]), hours, 0, dest,
           drift_km=float(np.clip(P.rng.uniform(0.5, 8.0), 0.3, max(room, 0.3))), speed_kn=float(P.rng.uniform(0.2, 1.5)))
    left = P.t
    if detour:
        P.sail(np.vstack([spot.where, spot.x]), dest)
    P.sail(spot.tail, dest)
    return arrive, left


def sts(P: Planner, here: str, nxt: str, dep: float):
    """Meets its partner at sea (ship to ship); dark unless it is the pair's visible side."""
    rv = P.v.rendezvous
    path = P.geo.route_to_point(here, rv["point"])
    travel = path_km(path) / (P.v.speed_kn * KM_PER_NM) * 3600
    if P.t + travel < rv["t"]:  # wait alongside until it is time to leave for the meeting
        P.hold(*P.geo.where(here), (rv["t"] - travel - P.t) / 3600.0, 5, ais_name(here), drift_km=0.03, berth=True)
        dep = P.t
    dest = ais_name(nxt)
    P.sail(path, dest)
    arrive = P.t
    P.hold(rv["point"][0], rv["point"][1], max(rv["t"] + rv["hours"] * 3600 - P.t, rv["hours"] * 1800) / 3600.0, 0,
           dest, drift_km=1.0, speed_kn=0.3)
    held = P.t
    t_off, t_on = arrive - P.rng.uniform(0.5, 3) * 3600, P.t + P.rng.uniform(0.5, 3) * 3600
    keep = P.keep_share()
    if not rv["visible"]:
        P.off(t_off, t_on, keep)
    P.sail(P.geo.route_from_point(rv["point"], nxt), dest)
    ev = (_event(arrive, held, *rv["point"], partner=rv["partner"], ais="on") if rv["visible"]
          else _event(t_off, t_on, *rv["point"], partner=rv["partner"], keep=keep))
    P.trip(dep, "sts", ev)
    rv["done"] = True
    return nxt, None


def false_destination(P: Planner, here: str, nxt: str, dep: float):
    """Bound for a sensitive port, it declares an innocuous one."""
    wrong = [p for p in ("KZAAU", "AZALA", "TMKRW", "AZBAK") if p in P.geo.port_node and p not in (nxt, here)]
    P.voyage(here, nxt, deliberate(wrong[P.rng.integers(len(wrong))]))
    P.trip(dep, "false_destination")
    return nxt, None


def mmsi_change(P: Planner, here: str, nxt: str, dep: float):
    """Switches to a new MMSI mid-voyage after a short silence; the new identity may be renamed
    and reflagged, with or without the IMO (``Vessel.new_name``, ``new_callsign``, ``new_imo``:
    world ranges ``mmsi_change_static_p``, ``mmsi_change_imo_kept_p``)."""
    marks = P.voyage(here, nxt)
    t_sw = time_at_km(marks, sum(m[1][-1] for m in marks) * float(P.rng.uniform(0.3, 0.7)))
    new = P.v.new_mmsi
    for arr_t, arr_m in zip(P.track.t, P.track.mmsi):
        arr_m[arr_t >= t_sw] = new
    P.off(t_sw - P.rng.uniform(0.5, 4) * 3600, t_sw + P.rng.uniform(0.5, 4) * 3600)
    P.trip(dep, "mmsi_change", _event(t_sw, t_sw, ais="on"), mmsi=P.v.mmsi, end=t_sw)
    P.mmsi = new
    P.trip(t_sw, "mmsi_change", _event(t_sw, t_sw, ais="on"), mmsi=new)
    P.v.changed = True
    return nxt, None


def spoofing(P: Planner, here: str, port: str, dep: float):
    """Heads for Amirabad/Anzali; 20 km .. ``approach_off_km_max`` out it starts sending a
    made-up position (one point, or circles through it: :meth:`Planner.spoof`) while it sails
    on, calls and comes back to that point, then sends its true position again. AIS stays on:
    only the positions lie, so the call never shows."""
    nxt = next_port(P, port)
    declared = ais_name(nxt)
    path = P.geo.route(here, port)
    off = min(float(P.rng.uniform(20, P.world.approach_off_km_max)), 0.9 * path_km(path))
    head, tail, x = split_path(path, path_km(path) - off)
    P.sail(head, declared)
    t0 = P.t
    P.sail(tail, declared)
    P.berth(port, float(P.rng.uniform(6, P.world.hidden_stay_h_max)), declared)
    P.sail(tail[::-1], declared)
    t1 = P.t
    P.spoof(t0, t1, x)
    P.sail(P.geo.route_from_point((float(x[0]), float(x[1])), nxt), ais_name(nxt))
    P.trip(dep, "spoofing", _event(t0, t1, x[0], x[1], port, ais="on"))
    return nxt, None


# --- where ships go ---------------------------------------------------------------------------

def next_port(P: Planner, here: str) -> str:
    """The same trade for every ship of a kind: Russia <-> Iran mostly, Russian coastal and
    Volga trade, the other Caspian states; ferries shuttle from Alat."""
    ports = P.geo.port_node
    ru_ru = P.world.ru_ru_share
    if P.v.kind == "ferry":
        pool = {"AZALA": 1.0} if here != "AZALA" else {"TMKRW": 0.5, "KZAAU": 0.3, "KZKUR": 0.2}
    elif here in RU_PORTS:
        pool = {**{p: ru_ru * w for p, w in RU_PORTS.items()}, **{p: 0.6 * (1 - ru_ru) * w for p, w in IR_PORTS.items()},
                **{p: 0.4 * (1 - ru_ru) * w for p, w in OTHER_PORTS.items()}}
    elif here in IR_PORTS:
        pool = {**{p: 0.75 * w for p, w in RU_PORTS.items()}, **{p: 0.25 * w for p, w in OTHER_PORTS.items()}}
    else:
        pool = {**{p: 0.5 * w for p, w in RU_PORTS.items()}, **{p: 0.3 * w for p, w in IR_PORTS.items()},
                **{p: 0.2 * w for p, w in OTHER_PORTS.items()}}
    pool = {p: w for p, w in pool.items() if p in ports and p != here}
    names, w = list(pool), np.array(list(pool.values()))
    return names[P.rng.choice(len(names), p=w / w.sum())]
