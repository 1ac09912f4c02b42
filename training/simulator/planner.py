"""Rendering one ship's movements as archived AIS fixes: sail a route, hold at a point, berth.

A :class:`Planner` keeps the ship's clock and appends fixes to a :class:`Track`; behaviours
(``training/simulator/behaviours.py``) are built from these few moves, so every ship, suspicious or not,
sails, queues, waits and berths the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.geo import KM_PER_NM, bearing_deg, haversine_km

from .feed import FORCED, INTENTS

#: Intent codes of the destination field (``training/simulator/feed.py`` renders them as text).
_DEST_CODE = {p: i for i, p in enumerate(INTENTS)} | {"!" + p: i + FORCED for i, p in enumerate(INTENTS)}
#: The Volga-Caspian canal's sea entrance, where ships bound up the river queue.
CANAL_ENTRANCE = "RU-VCSC-N1"
#: Northern Caspian ice season (Dec-Mar, north of 44.5 N): passages at 60 % speed.
ICE_LAT, ICE_SPEED_FACTOR, ICE_MONTHS = 44.5, 0.6, (12, 1, 2, 3)
#: Outer anchorages lie up to this far outside a port's area (km): ships queue where the pilot
#: boards, within sight of the port, not at the last sea-lane waypoint.
QUEUE_OFF_PORT_KM = 15.0
#: ~10 m GPS noise, in degrees of latitude.
_GPS_NOISE_DEG = 10.0 / 111_000.0
#: ~3 m GPS noise of a ship at rest (fixes of a still antenna wander by metres): enough that
#: no two reports alongside give one position to the metre (a stale speed field is no fixed
#: spoofed position), small enough that fixes seconds apart imply no speed (10 m gave 1-3 kn
#: between fixes 10-30 s apart, and a model that read loitering off them lost 0.06 AP when
#: the feed was thinned).
_REST_NOISE_DEG = 3.0 / 111_000.0


def ais_name(port: str) -> str:
    """The port a crew means when it fills the destination field for a move to ``port`` (its
    id; PLATFORM for an oil platform): what it types is the feed's business."""
    return "PLATFORM" if port.startswith("PLATFORM") else port


def deliberate(port: str) -> str:
    """A declaration made on purpose (a false destination, an order given at departure):
    always typed, at departure, whatever the crew's habit."""
    return "!" + ais_name(port)


#: A spoofed circle's radius (km) and the speed (kn) sent with made-up positions: sailing
#: speeds, on circles of a few km (the spoofed tracks seen in public reporting), a loop every
#: 0.6-2.5 h, so an archive that keeps a fix every few minutes still draws it round.
SPOOF_RADIUS_KM = (2.0, 4.5)
SPOOF_KN = (6.0, 11.0)


@dataclass(frozen=True)
class Spoof:
    """Made-up positions sent from ``t0`` to ``t1`` (s): the point (lat, lon), circles through
    it or not, their radius (km), the speed sent (kn), a course (deg) for the fixed point."""
    t0: float
    t1: float
    lat: float
    lon: float
    circles: bool
    radius_km: float
    kn: float
    course: float

    def positions(self, t: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, sog, cog) sent at times ``t`` (s, inside the window).

        >>> s = Spoof(0.0, 7200.0, 40.0, 50.0, False, 1.0, 8.0, 90.0)
        >>> lat, lon, sog, cog = s.positions(np.array([0.0, 3600.0]), np.random.default_rng(0))
        >>> lat.tolist(), lon.tolist(), bool((sog > 7).all())
        ([40.0, 40.0], [50.0, 50.0], True)
        """
        n = len(t)
        sog = np.round(self.kn + rng.normal(0, 0.2, n), 1)
        if not self.circles:
            return np.full(n, self.lat), np.full(n, self.lon), sog, np.round(np.full(n, self.course) + rng.normal(0, 1, n), 1) % 360
        # A circle through the point, at the speed sent (angle a about the centre: course a + 90).
        a = np.radians(self.course) + (t - self.t0) / 3600.0 * self.kn * KM_PER_NM / self.radius_km
        c0 = np.radians(self.course)
        kx = 111.0 * np.cos(np.radians(self.lat))
        lat = self.lat + self.radius_km * (np.cos(a) - np.cos(c0)) / 111.0
        lon = self.lon + self.radius_km * (np.sin(a) - np.sin(c0)) / kx
        return lat, lon, sog, np.round(np.degrees(a) + 90.0, 1) % 360


@dataclass
class Track:
    """Fixes as parallel lists of arrays, AIS-off windows, and the observable trips."""

    t: list = field(default_factory=list)
    lat: list = field(default_factory=list)
    lon: list = field(default_factory=list)
    sog: list = field(default_factory=list)
    cog: list = field(default_factory=list)
    nav: list = field(default_factory=list)
    dest: list = field(default_factory=list)
    berth: list = field(default_factory=list)   # fix is alongside (for AIS off alongside)
    mmsi: list = field(default_factory=list)
    off: list = field(default_factory=list)      # (t0, t1, keep_p): AIS off, a share kept
    spoof: list = field(default_factory=list)    # Spoof: made-up positions sent instead of the true
    trips: list = field(default_factory=list)    # dicts: mmsi, start, end, behaviour, event

    def add(self, t, lat, lon, sog, cog, nav, dest, mmsi, berth=False):
        n = len(t)
        self.t.append(t)
        self.lat.append(lat)
        self.lon.append(lon)
        self.sog.append(sog)
        self.cog.append(cog)
        self.nav.append(np.full(n, nav, np.int8))
        self.dest.append(np.full(n, _DEST_CODE[dest], np.int16))
        self.berth.append(np.full(n, berth))
        self.mmsi.append(np.full(n, mmsi, np.int64))


def path_km(path: np.ndarray) -> float:
    return float(np.sum(haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])))


def split_path(path: np.ndarray, km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, tail, point): the path cut ``km`` from its start (clipped to the path)."""
    seg = haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
    cum = np.r_[0.0, np.cumsum(seg)]
    km = float(np.clip(km, 1e-3, cum[-1] - 1e-3))
    k = int(np.searchsorted(cum, km))
    f = (km - cum[k - 1]) / max(seg[k - 1], 1e-9)
    x = path[k - 1] + f * (path[k] - path[k - 1])
    return np.vstack([path[:k], x]), np.vstack([x, path[k:]]), x


def open_sea_split(geo, path: np.ndarray, rng, lo: float = 0.3, hi: float = 0.7, min_coast_km: float = 10.0):
    """``split_path`` at a random share in [lo, hi] of the way that lies in open water (at least
    ``min_coast_km`` from shore, off the Volga channel), so drifting there stays at sea; None
    when the way has no open water (up and down the river)."""
    total = path_km(path)
    for share in rng.uniform(lo, hi, 12):
        head, tail, x = split_path(path, total * share)
        wet = geo.on_water([x[0]], [x[1]])[0] and not geo.in_channel([x[0]], [x[1]], tol_km=8.0)[0]
        if wet and geo.coast_km([x[0]], [x[1]])[0] >= min_coast_km:
            return head, tail, x
    return None


class Planner:
    """One ship's clock and its moves; ``rng`` is the scenario's generator."""

    def __init__(self, v, geo, world, rng: np.random.Generator, t0: float):
        self.v, self.geo, self.world, self.rng = v, geo, world, rng
        self.track = Track()
        self.mmsi = v.mmsi
        self.t = t0
        self.window_start = t0        # when the data window opens (s)
        self.last_dest: str | None = None
        self.off_next_berth = False   # the next berth is spent with AIS off (arrival/departure heard)
        self.stops: list[tuple[float, float]] = []  # visible stops at a gazetteer anchorage: voyages end there

    # -- moves ----------------------------------------------------------------------------
    def _times(self, t0: float, t1: float, step: float) -> np.ndarray:
        n = max(int((t1 - t0) / step) + 2, 2)
        t = t0 + np.r_[0.0, np.cumsum(step * self.rng.uniform(0.8, 1.2, n - 1))]
        return t[t < t1]

    def sail(self, path: np.ndarray, dest: str, speed_kn: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sail ``path`` from now; returns (time s, cumulative km) at its vertices."""
        v = (speed_kn or self.v.speed_kn) * self.rng.uniform(0.95, 1.05)
        seg_km = haversine_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
        mid_lat = (path[:-1, 0] + path[1:, 0]) / 2
        month = int(np.datetime64(int(self.t), "s").astype("datetime64[M]").astype(int) % 12) + 1
        speed = np.where((month in ICE_MONTHS) & (mid_lat > ICE_LAT), v * ICE_SPEED_FACTOR, v)
        t_cum = self.t + np.r_[0.0, np.cumsum(seg_km / (speed * KM_PER_NM) * 3600.0)]
        d_cum = np.r_[0.0, np.cumsum(seg_km)]
        t = self._times(t_cum[0], t_cum[-1], self.v.underway_s)
        d = np.interp(t, t_cum, d_cum)
        lat, lon = np.interp(d, d_cum, path[:, 0]), np.interp(d, d_cum, path[:, 1])
        k = np.clip(np.searchsorted(d_cum, d, side="right") - 1, 0, len(seg_km) - 1)
        brg = bearing_deg(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1])
        sog = np.maximum(speed[k] + self.rng.normal(0, 0.3, len(t)), 0.0)
        n = len(t)
        self.track.add(t, lat + self.rng.normal(0, _GPS_NOISE_DEG, n), lon + self.rng.normal(0, _GPS_NOISE_DEG, n),
                       np.round(sog, 1), np.round((brg[k] + self.rng.normal(0, 2, n)) % 360, 1), 0, dest, self.mmsi)
        self.t = float(t_cum[-1])
        self.last_dest = dest
        return t_cum, d_cum

    def hold(self, lat: float, lon: float, hours: float, nav: int, dest: str, drift_km: float = 0.05,
             speed_kn: float = 0.1, berth: bool = False):
        """Stay near a point (berth, anchorage, platform, at sea) for ``hours``."""
        t1 = self.t + hours * 3600.0
        # Class A reports every 3 min at anchor or moored (nav status 1, 5), every 2-10 s under
        # way, however slowly it drifts; archives thin both (the ship's two intervals).
        t = self._times(self.t, t1, self.v.moored_s if nav in (1, 5) else self.v.underway_s)
        n = len(t)
        # A slow bounded random walk: ships swing at anchor, drift, idle about platforms.
        walk = np.cumsum(self.rng.normal(0, 1, (n, 2)), axis=0)
        walk -= walk[0]
        walk = walk / max(np.abs(walk).max(), 1.0, np.sqrt(n) / 3) * drift_km
        sog = np.round(np.abs(self.rng.normal(speed_kn, speed_kn / 2 + 0.05, n)), 1)
        # GPS noise at rest too: a fix alongside moves by metres from one report to the next.
        noise = self.rng.normal(0, _REST_NOISE_DEG, (n, 2))
        self.track.add(t, lat + walk[:, 0] / 111.0 + noise[:, 0],
                       lon + walk[:, 1] / (111.0 * np.cos(np.radians(lat))) + noise[:, 1], sog,
                       np.round(self.rng.uniform(0, 360, n), 1), nav, dest, self.mmsi, berth)
        self.t = t1

    def berth(self, port: str, hours: float, dest: str | None = None):
        """Alongside at ``port``; the destination field keeps what the arriving voyage declared."""
        lat, lon = self.geo.where(port)
        t0 = self.t
        self.hold(lat, lon, hours, 5, dest or self.last_dest or ais_name(port), drift_km=0.03, berth=True)
        if self.off_next_berth:
            self.off(t0 + 1800.0, self.t - 1800.0)
            self.off_next_berth = False

    def voyage(self, a: str, b: str, declared: str | None = None) -> list:
        """Sail a -> b, queueing off b as often as any ship does; returns the sails' (t, km) marks."""
        path = self.geo.route(a, b)
        dest = declared or ais_name(b)
        w = self.world
        if self.v.kind in ("general_cargo", "tanker") and len(path) > 2 and self.rng.random() < w.queue_p:
            if b in ("RUOYA", "RUASF"):  # bound up the Volga: queue at the canal's sea entrance
                k = max(int(np.argmin(haversine_km(path[:, 0], path[:, 1], *self.geo.where(CANAL_ENTRANCE)))), 1)
                head, tail, x = path[:k + 1], path[k:], path[k]
            else:  # at the port's outer anchorage, a few km outside its area
                gaz = self.geo.gaz.ports.set_index("port_id")
                off = float(gaz.at[b, "radius_km"]) * 4 / 3 + float(self.rng.uniform(2, QUEUE_OFF_PORT_KM))
                head, tail, x = split_path(path, max(path_km(path) - off, 0.5 * path_km(path)))
            marks = [self.sail(head, dest)]
            self.anchor(float(x[0]), float(x[1]), float(self.rng.uniform(2, w.queue_h_max)), dest,
                        b in ("RUOYA", "RUASF"))
            marks.append(self.sail(tail, dest))
            return marks
        return [self.sail(path, dest)]

    def anchor(self, lat: float, lon: float, hours: float, dest: str, port_visit: bool):
        """Wait at anchor; at a gazetteer anchorage (the canal entrance) that is a port visit, so
        the observable voyage ends there and the next one starts."""
        t0 = self.t
        self.hold(lat, lon, hours, 1, dest, drift_km=0.3)
        if port_visit:
            self.stops.append((t0, self.t))

    def maybe_wait(self, x, dest: str):
        """Wait at sea as often and as long as any ship queues (for orders, a berth, a pilot):
        a voyage that carries an event waits like any other."""
        if self.v.kind in ("general_cargo", "tanker") and self.rng.random() < self.world.queue_p:
            self.hold(float(x[0]), float(x[1]), float(self.rng.uniform(2, self.world.queue_h_max)), 1, dest,
                      drift_km=0.3)

    def stay_hours(self) -> float:
        if self.v.kind == "ferry":
            return float(self.rng.uniform(6, 24))
        return float(np.clip(self.rng.lognormal(np.log(self.world.stay_median_h), self.world.stay_sigma), 6, 200))

    # -- bookkeeping ---------------------------------------------------------------------------
    def off(self, t0: float, t1: float, keep_p: float = 0.0):
        if t1 > t0:
            self.track.off.append((t0, t1, keep_p))

    def spoof(self, t0: float, t1: float, at) -> None:
        """From ``t0`` to ``t1`` (s) send a made-up position at ``at`` (lat, lon): one point, or
        circles through it (``spoof_circle_p``), at a sailing speed."""
        circles = bool(self.rng.random() < self.world.spoof_circle_p)
        self.track.spoof.append(Spoof(t0, t1, float(at[0]), float(at[1]), circles,
                                      float(self.rng.uniform(*SPOOF_RADIUS_KM)), float(self.rng.uniform(*SPOOF_KN)),
                                      float(self.rng.uniform(0, 360))))

    def keep_share(self) -> float:
        """AIS off completely, or "partly on" (reduced power: the odd fix far out at sea)."""
        return float(self.rng.uniform(0.2, 1.0) * self.world.partial_keep_p) if self.rng.random() < self.world.partial_p else 0.0

    def trip(self, start: float, behaviour: str, event: dict | None = None, mmsi: int | None = None,
             end: float | None = None):
        """Record the observable trip(s) from ``start`` to ``end`` (default now): split at visible
        anchorage stops, the behaviour going to the part where its event starts."""
        end = self.t if end is None else end
        cuts = [(a, b) for a, b in self.stops if start < a and b < end]
        bounds = [start] + [x for ab in cuts for x in ab] + [end]
        parts = list(zip(bounds[0::2], bounds[1::2]))
        starts = [p[0] for p in parts]
        mine = int(np.searchsorted(starts, event["t0"], side="right") - 1) if event and len(parts) > 1 else 0
        for i, (a, b) in enumerate(parts):
            own = i == max(mine, 0)
            self.track.trips.append({"mmsi": mmsi or self.mmsi, "start": a, "end": b,
                                     "behaviour": behaviour if own else "normal", "event": event if own else None})


def time_at_km(marks: list, km: float, from_end: bool = False) -> float:
    """Time (s) at ``km`` along the sails in ``marks`` (from their start, or their end)."""
    t_cum = np.concatenate([m[0] for m in marks])
    d_cum = np.concatenate([m[1] + sum(mm[1][-1] for mm in marks[:i]) for i, m in enumerate(marks)])
    at = max(d_cum[-1] - km, 0.0) if from_end else min(km, d_cum[-1])
    return float(np.interp(at, d_cum, t_cum))
