"""Benign look-alikes ("twins") of the suspicious behaviours, one function each.

Each has the surface of a planted event (a gap of similar length in a similar place) and
differs in what a careful analyst checks: the call before the gap was seen, the port that fits
the gap is not sensitive, the transit is a straight line at service speed, the AIS stayed on,
the reception was down for every ship there. Signatures as in ``training/simulator/behaviours.py``.
"""

from __future__ import annotations

from .fleet import NO_SALE
from .behaviours import NON_SENSITIVE, VOLGA, _event, loiter_at, loiter_spot, normal, supply_trip
from .planner import CANAL_ENTRANCE, Planner, ais_name, deliberate, path_km, split_path, time_at_km


def call_then_outage(P: Planner, here: str, nxt: str, dep: float):
    """A visible call, then the transponder fails as the ship leaves (twin of dark_approach)."""
    t0 = dep - float(P.rng.uniform(0, 2)) * 3600
    t1 = dep + float(P.rng.uniform(8, P.world.fault_h_max)) * 3600
    P.off(t0, t1)
    lat, lon = P.geo.where(here)
    P.voyage(here, nxt)
    P.trip(dep, "twin_call_then_outage", _event(t0, min(t1, P.t), lat, lon, here))
    return nxt, None


def outage_unseen_call(P: Planner, here: str, nxt: str, dep: float):
    """An outage between non-sensitive ports that spans a real call at a third, non-sensitive
    port (twin of a hidden call: the port that fits the gap is not a sensitive one)."""
    mid = [p for p in NON_SENSITIVE if p in P.geo.port_node and p not in (here, nxt)]
    x_port = mid[P.rng.integers(len(mid))]
    path = P.geo.route(here, x_port)
    head, tail, x = split_path(path, path_km(path) - min(float(P.rng.uniform(20, 150)), 0.9 * path_km(path)))
    P.sail(head, ais_name(nxt))
    t0 = P.t
    P.sail(tail, ais_name(nxt))
    P.berth(x_port, float(P.rng.uniform(6, 30)))
    marks = P.voyage(x_port, nxt)
    t1 = time_at_km(marks, min(float(P.rng.uniform(20, 150)), 0.9 * sum(m[1][-1] for m in marks)))
    P.off(t0, t1)
    P.trip(dep, "twin_outage_unseen_call", _event(t0, t1, x[0], x[1], x_port))
    return nxt, None


def straight_gap(P: Planner, here: str, nxt: str, dep: float):
    """A long mid-sea gap (a fault, a hole) whose transit is a straight run at service speed."""
    marks = P.voyage(here, nxt)
    total = sum(m[1][-1] for m in marks)
    t0 = time_at_km(marks, total * float(P.rng.uniform(0.1, 0.4)))
    t1 = time_at_km(marks, total * float(P.rng.uniform(0.6, 0.9)))
    P.off(t0, t1)
    P.trip(dep, "twin_straight_gap", _event(t0, t1))
    return nxt, None


def drift(P: Planner, here: str, nxt: str, dep: float):
    """Drifts at sea for hours with AIS on (waiting for orders or weather), on the lane or off
    it, as a dark loiterer stops (:func:`training.simulator.behaviours.loiter_spot`)."""
    spot = loiter_spot(P, here, nxt)
    if spot is None:
        return normal(P, here, nxt, dep)
    t0, t1 = loiter_at(P, spot, float(P.rng.uniform(4, P.world.loiter_h_max)), ais_name(nxt))
    P.trip(dep, "twin_drift", _event(t0, t1, spot.where[0], spot.where[1], ais="on"))
    return nxt, None


def turn_back(P: Planner, here: str, nxt: str, dep: float):
    """Sails out, turns back to its origin with AIS on (orders changed, weather)."""
    path = P.geo.route(here, nxt)
    head, _, x = split_path(path, min(float(P.rng.uniform(30, 300)), 0.7 * path_km(path)))
    P.sail(head, ais_name(nxt))
    t0 = P.t
    P.sail(head[::-1], ais_name(here))
    P.trip(dep, "twin_turn_back", _event(t0, t0, x[0], x[1], here, ais="on"))
    return here, None


def delta_queue(P: Planner, here: str, river: str, dep: float):
    """Queues at the canal's sea entrance, heard only in part (a reception hole there)."""
    path = P.geo.route(here, CANAL_ENTRANCE)
    P.sail(path, ais_name(river))
    hold_h = float(P.rng.uniform(6, 40))
    t0 = P.t + hold_h * 3600 * float(P.rng.uniform(0.0, 0.3))
    t1 = t0 + hold_h * 3600 * float(P.rng.uniform(0.4, 0.7))
    lat, lon = P.geo.where(CANAL_ENTRANCE)
    P.anchor(lat, lon, hold_h, ais_name(river), port_visit=True)
    P.off(t0, t1)
    P.voyage(CANAL_ENTRANCE, river)
    P.trip(dep, "twin_delta_queue", _event(t0, t1, lat, lon, CANAL_ENTRANCE))
    return river, None


def berth_off_sensitive(P: Planner, here: str, port: str, dep: float):
    """AIS off alongside at a sensitive port, arrival and departure heard."""
    P.voyage(here, port)
    lat, lon = P.geo.where(port)
    P.off_next_berth = True
    P.trip(dep, "twin_berth_off_sensitive", _event(P.t, P.t, lat, lon, port))
    return port, None


def satellite_only(P: Planner, here: str, nxt: str, dep: float):
    """A ferry whose weak transponder only satellites hear (the ship-level habit does it)."""
    P.voyage(here, nxt)
    P.trip(dep, "twin_satellite_only")
    return nxt, None


def platform_dark(P: Planner, here: str, nxt: str, dep: float):
    """A supply boat's out-and-back to a platform, AIS off while idling there."""
    return supply_trip(P, here, nxt, dep, dark=True)


def changed_orders(P: Planner, here: str, nxt: str, dep: float):
    """Leaves declaring one port, gets new orders on the way and sails to another; the crew
    updates the field late or not at all (twin of false_destination: the declared port is not
    the one reached, for an ordinary reason)."""
    others = [p for p in ("KZAAU", "AZALA", "TMKRW", "AZBAK", "RUMCX", "IRBAZ", "IRBAM", "RUASF", "KZKUR")
              if p in P.geo.port_node and p not in (here, nxt)]
    first = others[P.rng.integers(len(others))]
    path = P.geo.route(here, first)
    head, _, x = split_path(path, float(P.rng.uniform(0.2, 0.6)) * path_km(path))
    P.sail(head, deliberate(first))
    t0 = P.t
    P.sail(P.geo.route_from_point((float(x[0]), float(x[1])), nxt), ais_name(nxt))
    P.trip(dep, "twin_changed_orders", _event(t0, t0, x[0], x[1], first, ais="on"))
    return nxt, None


def registered_sale(P: Planner, here: str, nxt: str, dep: float):
    """Sold alongside: the new owner's MMSI, name and call sign from the last hour or two of
    the stay, AIS on throughout, the IMO kept (twin of mmsi_change: the change is in port, in
    plain sight). Once per ship."""
    v = P.v
    if v.changed or not v.new_mmsi or v.profile in NO_SALE:
        return normal(P, here, nxt, dep)
    t_sw = dep - float(P.rng.uniform(0.5, 2.0)) * 3600
    for arr_t, arr_m in zip(P.track.t, P.track.mmsi):
        arr_m[arr_t >= t_sw] = v.new_mmsi
    P.mmsi, v.changed = v.new_mmsi, True
    lat, lon = P.geo.where(here)
    P.voyage(here, nxt)
    P.trip(dep, "twin_registered_sale", _event(t_sw, t_sw, lat, lon, here, ais="on"))
    return nxt, None


TWIN_FUNCS = {"twin_call_then_outage": call_then_outage, "twin_outage_unseen_call": outage_unseen_call,
              "twin_straight_gap": straight_gap, "twin_drift": drift, "twin_turn_back": turn_back,
              "twin_delta_queue": delta_queue, "twin_berth_off_sensitive": berth_off_sensitive,
              "twin_satellite_only": satellite_only, "twin_platform_dark": platform_dark,
              "twin_changed_orders": changed_orders, "twin_registered_sale": registered_sale}
#: Where a twin can happen: (here, planned next port) -> bool.
TWIN_APPLIES = {
    "twin_outage_unseen_call": lambda P, h, n: h in NON_SENSITIVE and n in NON_SENSITIVE,
    "twin_straight_gap": lambda P, h, n: P.geo.route_km(h, n) >= 300,
    "twin_delta_queue": lambda P, h, n: n in VOLGA and h != CANAL_ENTRANCE,
    "twin_berth_off_sensitive": lambda P, h, n: n in ("RUASF", "RUOYA", "RUMCX", "IRBAZ", "IRBAM"),
}
