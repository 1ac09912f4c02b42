"""GPS interference: areas where, for hours at a time, ships' reported positions jump.

GNSS jamming and spoofing near military sites make every ship there report the odd position
kilometres off, then its true one again. To a tracker that is "jumps that come back", the
typology a spoofing transmitter draws too; here it happens to every ship in the area, whatever
its profile, so the model and the events must tell it apart by what it is (many ships at once),
not by who suffers it. Areas sit on the sea lanes (where ships are), drawn per world
(``interference_*`` in ``training/simulator/world.py``).

>>> box = Interference(np.array([40.0]), np.array([50.0]), np.array([30.0]), np.array([0]), np.array([0.0]),
...                    np.array([3600.0]), fix_p=1.0, km_max=10.0)
>>> lat, lon, hit = box.displace(np.array([10.0, 5000.0]), np.array([40.0, 40.0]), np.array([50.0, 50.0]), 1)
>>> hit.tolist(), bool(lat[1] == 40.0)
([True, False], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.geo import haversine_km

#: A displaced fix lands at least this far off (km): jamming and spoofing put ships tens to
#: hundreds of km from where they are. (At 3 km a fix heard minutes after the last one was
#: often within a ship's reach: the tracker followed it and left the ship's own fixes to a
#: second track, 150 voyages of a 200-ship month had a phantom second track.)
MIN_JUMP_KM = 20.0


@dataclass
class Interference:
    lat: np.ndarray          # area centres (deg)
    lon: np.ndarray
    radius_km: np.ndarray
    area: np.ndarray         # per window: its area
    t0: np.ndarray           # per window: start, end (s)
    t1: np.ndarray
    fix_p: float
    km_max: float

    def displace(self, t, lat, lon, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, displaced) of fixes at times ``t`` (s) and true positions: a fix inside an
        active window's area lands ``MIN_JUMP_KM`` .. ``km_max`` off with ``fix_p``. One
        ship's fixes at a time, from its own stream (``seed``)."""
        t, lat, lon = np.asarray(t, float), np.asarray(lat, float), np.asarray(lon, float)
        hit = np.zeros(len(t), bool)
        for a, w0, w1 in zip(self.area, self.t0, self.t1):  # a few windows per scenario
            inside = (t >= w0) & (t < w1)
            if inside.any():
                inside[inside] = haversine_km(lat[inside], lon[inside], self.lat[a], self.lon[a]) <= self.radius_km[a]
                hit |= inside
        if not hit.any():
            return lat, lon, hit
        rng = np.random.default_rng([int(seed), 0x6E55])
        hit &= rng.random(len(t)) < self.fix_p
        k = int(hit.sum())
        km = rng.uniform(MIN_JUMP_KM, max(self.km_max, MIN_JUMP_KM), k)
        ang = rng.uniform(0, 2 * np.pi, k)
        kx = 111.0 * np.cos(np.radians(lat[hit]))  # the true latitude's east-west scale
        lat, lon = lat.copy(), lon.copy()
        lat[hit] += km * np.cos(ang) / 111.0
        lon[hit] += km * np.sin(ang) / kx
        return lat, lon, hit

    def describe(self) -> dict:
        """The drawn areas and windows (for ``world.json``)."""
        return {"areas": [{"lat": round(float(a), 4), "lon": round(float(o), 4), "radius_km": round(float(r), 1)}
                          for a, o, r in zip(self.lat, self.lon, self.radius_km)],
                "windows": int(len(self.t0)), "window_hours": round(float((self.t1 - self.t0).sum() / 3600.0), 1)}


def draw_interference(world, lanes: np.ndarray, t0: float, t1: float) -> Interference:
    """The world's interference areas (on lane points ``lanes``, (k, 2) lat/lon) and their
    active windows between ``t0`` and ``t1`` (s); from the world's own stream, so the scenario's
    other draws do not move."""
    rng = np.random.default_rng([int(world.world_seed), 0x6E55])
    n = int(world.interference_areas)
    at = lanes[rng.integers(len(lanes), size=n)] if n and len(lanes) else np.zeros((0, 2))
    radius = world.interference_radius_km * rng.uniform(0.7, 1.3, len(at))
    weeks = (t1 - t0) / (7 * 86400.0)
    counts = rng.poisson(world.interference_windows_per_week * weeks, len(at))
    area = np.repeat(np.arange(len(at)), counts)
    start = rng.uniform(t0, t1, len(area))
    hours = np.exp(rng.uniform(0.0, np.log(max(world.interference_h_max, 1.0)), len(area)))
    return Interference(at[:, 0].copy(), at[:, 1].copy(), radius, area, start, start + hours * 3600.0,
                        float(world.interference_fix_p), float(world.interference_km_max))
