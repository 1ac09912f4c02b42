"""Who hears a ship: shore stations with outages, satellite passes with holes.

Reception holes in real AIS are correlated: a shore station goes down for hours and every ship
in its range goes quiet at once; a satellite constellation leaves the middle of the sea unheard
between passes and sometimes for several hours. Independent per-fix drops never make a gap of
an hour, so benign gaps here come from the same processes that make them at sea.

:class:`Reception` is built once per scenario from a :class:`~training.simulator.world.World`; its
:meth:`Reception.heard` answers for one ship's fixes at once (whole-array work).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.geo import haversine_km

from .geography import Geography
from .world import World

#: Coverage look-up grid (the coast grid's extent): 0.05 deg cells, up to this many stations.
_CELL_DEG, _LAT0, _LON0, _NLAT, _NLON = 0.05, 36.0, 46.0, 240, 200
_MAX_STATIONS_PER_CELL = 4
#: A ship with a weak transponder (low power, bad antenna) is heard by shore stations this
#: much less often: satellites, which listen from above the horizon, still hear it.
WEAK_SHORE_FACTOR = 0.1


@dataclass
class Reception:
    station_lat: np.ndarray
    station_lon: np.ndarray
    station_range_km: np.ndarray
    station_p: np.ndarray
    station_region: np.ndarray
    outage_start: np.ndarray      # sorted keys: station * span + seconds since t0
    outage_end: np.ndarray
    cover: np.ndarray             # (cells, 4) station ids by distance, -1 padded
    passes: np.ndarray            # satellite pass start times (s)
    pass_s: float
    sat_p: float
    t0: float
    span: float

    def heard(self, t, lat, lon, rng: np.random.Generator, weak: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(heard, by_shore) boolean arrays for fixes at times ``t`` (s) and positions (deg)."""
        n = len(t)
        i = np.clip(((np.asarray(lat) - _LAT0) / _CELL_DEG).astype(np.int64), 0, _NLAT - 1)
        j = np.clip(((np.asarray(lon) - _LON0) / _CELL_DEG).astype(np.int64), 0, _NLON - 1)
        stations = self.cover[i * _NLON + j]
        shore = np.zeros(n, bool)
        rel = np.asarray(t) - self.t0
        for k in range(stations.shape[1]):
            s = stations[:, k]
            has = s >= 0
            if not has.any():
                continue
            key = np.where(has, s, 0) * self.span + rel
            at = np.searchsorted(self.outage_start, key, side="right") - 1
            down = (at >= 0) & (self.outage_end[np.maximum(at, 0)] > key)
            p = self.station_p[np.where(has, s, 0)] * (WEAK_SHORE_FACTOR if weak else 1.0)
            shore |= has & ~down & (rng.random(n) < p)
        k = np.clip(np.searchsorted(self.passes, t, side="right") - 1, 0, len(self.passes) - 1)
        in_pass = (np.asarray(t) - self.passes[k] >= 0) & (np.asarray(t) - self.passes[k] < self.pass_s)
        sat = ~shore & in_pass & (rng.random(n) < self.sat_p)
        return shore | sat, shore

    def describe(self) -> dict:
        """The drawn stations (for ``world.json``)."""
        return {"stations": [{"lat": round(float(a), 4), "lon": round(float(o), 4), "range_km": round(float(r), 1),
                              "detect_p": round(float(p), 3), "region": str(g)}
                             for a, o, r, p, g in zip(self.station_lat, self.station_lon, self.station_range_km,
                                                      self.station_p, self.station_region)],
                "station_outages": int(len(self.outage_start)),
                "station_outage_hours": round(float((self.outage_end - self.outage_start).sum() / 3600.0), 1),
                "satellite_passes": int(len(self.passes))}


def build_reception(world: World, geo: Geography, rng: np.random.Generator, t0: float, t1: float) -> Reception:
    """Place stations along the coast, draw their outages and the satellite passes for [t0, t1)."""
    lat, lon, region = _coast_sites(geo)
    density = np.where(region == "IR", world.iran_station_density, 1.0)
    pick = rng.choice(len(lat), size=world.shore_stations, replace=False, p=density / density.sum())
    ports = geo.gaz.ports
    vts = rng.random(len(ports)) < world.port_station_p
    s_lat = np.r_[lat[pick], ports["lat"].to_numpy(float)[vts]]
    s_lon = np.r_[lon[pick], ports["lon"].to_numpy(float)[vts]]
    s_reg = np.r_[region[pick], ports["country"].to_numpy(dtype=object)[vts].astype(str)]
    # Port receivers hear their approaches (~20-40 km); the coastal network as drawn.
    s_range = np.r_[world.station_range_km * rng.uniform(0.7, 1.3, world.shore_stations),
                    rng.uniform(20.0, 40.0, int(vts.sum()))]
    s_p = np.clip(world.station_detect_p + rng.normal(0, 0.02, len(s_lat)), 0.5, 0.995)
    span = (t1 - t0) + 10 * 86400.0
    starts, ends = [], []
    days = (t1 - t0) / 86400.0
    for s in range(len(s_lat)):
        rate = world.station_outages_per_day * world.region_outage_factor[str(s_reg[s])]
        n = rng.poisson(rate * days)
        a = np.sort(rng.uniform(0, t1 - t0, n))
        b = a + np.exp(rng.uniform(0.0, np.log(world.station_outage_h_max), n)) * 3600.0
        a, b = _merge(a, b)
        starts.append(s * span + a)
        ends.append(s * span + b)
    passes = _satellite_passes(world, rng, t0, t1)
    return Reception(s_lat, s_lon, s_range, s_p, s_reg, np.concatenate(starts), np.concatenate(ends),
                     _coverage(s_lat, s_lon, s_range), passes, world.sat_pass_min * 60.0, world.sat_detect_p,
                     t0, span)


def _merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals [a, b) sorted by a, as disjoint intervals."""
    if len(a) == 0:
        return a, b
    reach = np.maximum.accumulate(b)
    new = np.r_[True, a[1:] > reach[:-1]]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(a)] - 1
    return a[first], reach[last]


def _satellite_passes(world: World, rng, t0: float, t1: float) -> np.ndarray:
    """Pass start times every ~revisit (+-50 %), minus the passes inside multi-hour holes."""
    start = t0 - 86400.0
    n = int((t1 - start) / (world.sat_revisit_min * 30.0)) + 10
    passes = start + np.cumsum(world.sat_revisit_min * 60.0 * rng.uniform(0.5, 1.5, n))
    passes = passes[passes < t1 + 86400.0]
    holes = rng.poisson(world.sat_holes_per_day * (t1 - t0) / 86400.0)
    keep = np.ones(len(passes), bool)
    for h0 in rng.uniform(t0, t1, holes):
        keep &= ~((passes >= h0) & (passes < h0 + rng.uniform(2.0, world.sat_hole_h_max) * 3600.0))
    return passes[keep] if keep.any() else passes[:1]


def _coast_sites(geo: Geography) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate station sites every ~10 km along the shoreline, with their region (the
    country of the nearest port)."""
    ring = np.asarray(geo.water.exterior.coords)  # lon, lat
    lon, lat = ring[:, 0], ring[:, 1]
    step = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    cum = np.r_[0.0, np.cumsum(step)]
    at = np.arange(0.0, cum[-1], 10.0)
    s_lat, s_lon = np.interp(at, cum, lat), np.interp(at, cum, lon)
    ports = geo.gaz.ports
    d = haversine_km(s_lat[:, None], s_lon[:, None], ports["lat"].to_numpy()[None, :], ports["lon"].to_numpy()[None, :])
    region = ports["country"].to_numpy(dtype=object)[np.argmin(d, axis=1)].astype(str)
    return s_lat, s_lon, region


def _coverage(s_lat, s_lon, s_range) -> np.ndarray:
    lat = _LAT0 + (np.arange(_NLAT) + 0.5) * _CELL_DEG
    lon = _LON0 + (np.arange(_NLON) + 0.5) * _CELL_DEG
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    d = haversine_km(glat.ravel()[:, None], glon.ravel()[:, None], s_lat[None, :], s_lon[None, :])
    d = np.where(d <= s_range[None, :], d, np.inf)
    order = np.argsort(d, axis=1)[:, :_MAX_STATIONS_PER_CELL]
    near = np.take_along_axis(d, order, axis=1)
    out = np.where(np.isfinite(near), order, -1).astype(np.int64)
    if out.shape[1] < _MAX_STATIONS_PER_CELL:
        out = np.pad(out, ((0, 0), (0, _MAX_STATIONS_PER_CELL - out.shape[1])), constant_values=-1)
    return out
