"""Caspian geography for the simulator: water, sea lanes, the Volga channel and port routes.

Sources (all in ``features/data``, provenance in its README): the curated port list, the
hand-made sea lanes (every waypoint and segment checked wet in GSHHG), and the GSHHG water
polygon with the Volga-Caspian canal line. Ports join the lane network through a connector
that is checked on water here (outside the port's own radius, where GSHHG puts most harbours
on land); ports that cannot be joined that way are left out of the traffic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree

from features.config import PACKAGED_DATA
from features.gazetteer import Gazetteer, load_gazetteer
from features.geo import haversine_km
from features.installations import load_installations

#: Oil-field platforms that supply boats serve from Baku: the packaged offshore installations
#: (Neft Daslari, Chirag and Shah Deniz at approximate public positions; each checked on water
#: at start-up), the list the rendezvous rule reads, so both know the same platforms.
_INSTALLATIONS = load_installations()
PLATFORMS = dict(zip(_INSTALLATIONS.ids, zip(_INSTALLATIONS.lat.tolist(), _INSTALLATIONS.lon.tolist())))
#: Longest connector from a port to the lane network.
MAX_CONNECTOR_KM = 120.0
#: Samples per km when checking a segment on water (the data README checked lanes at 0.5 km).
_SAMPLE_KM = 0.5


@dataclass
class Geography:
    gaz: Gazetteer
    water: object                      # shapely Polygon, prepared
    channel: np.ndarray                # (k, 2) lat, lon from the canal's sea entrance to Astrakhan
    nodes: pd.DataFrame                # name, lat, lon
    dist: np.ndarray                   # all-pairs shortest path km
    pred: np.ndarray                   # predecessors
    port_node: dict[str, int] = field(default_factory=dict)
    coast_grid: tuple = ()
    xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # node lat, lon

    def where(self, port: str) -> tuple[float, float]:
        """(lat, lon) of a port's (or platform's) node."""
        la, lo = self.xy[self.port_node[port]]
        return float(la), float(lo)

    # -- water ----------------------------------------------------------------------------
    def on_water(self, lat, lon) -> np.ndarray:
        return shapely.contains_xy(self.water, np.asarray(lon, float), np.asarray(lat, float))

    def segment_wet(self, a, b, skip_a_km=0.0, skip_b_km=0.0) -> bool:
        d = float(haversine_km(a[0], a[1], b[0], b[1]))
        n = max(int(d / _SAMPLE_KM), 2)
        f = np.linspace(0, 1, n + 1)
        lat = a[0] + f * (b[0] - a[0])
        lon = a[1] + f * (b[1] - a[1])
        keep = (f * d >= skip_a_km) & ((1 - f) * d >= skip_b_km)
        return bool(self.on_water(lat[keep], lon[keep]).all())

    def coast_km(self, lat, lon) -> np.ndarray:
        """Distance to the shoreline (km), from a 0.05 deg raster (positive on water and land)."""
        lat0, lon0, step, grid = self.coast_grid
        i = np.clip(((np.asarray(lat) - lat0) / step).astype(np.int64), 0, grid.shape[0] - 1)
        j = np.clip(((np.asarray(lon) - lon0) / step).astype(np.int64), 0, grid.shape[1] - 1)
        return grid[i, j]

    def in_channel(self, lat, lon, tol_km: float = 3.0) -> np.ndarray:
        """Within ``tol_km`` of the canal line from its third knee upstream: the delta and
        river leg, which no land mask resolves (GSHHG puts ~14 km of it on land)."""
        river = self.channel[2:]
        pts = []
        for (a0, o0), (a1, o1) in zip(river[:-1], river[1:]):
            k = max(int(float(haversine_km(a0, o0, a1, o1)) / 0.5), 1)
            f = np.arange(k) / k
            pts.append(np.column_stack([a0 + f * (a1 - a0), o0 + f * (o1 - o0)]))
        pts.append(river[-1:])
        tree = cKDTree(_xyz(*np.vstack(pts).T))
        d, _ = tree.query(_xyz(np.asarray(lat, float), np.asarray(lon, float)))
        return d * 6371.0 <= tol_km

    # -- routes ---------------------------------------------------------------------------
    @property
    def ports(self) -> list[str]:
        return sorted(self.port_node)

    def route(self, a: str, b: str) -> np.ndarray:
        """Polyline (k, 2) lat/lon from port ``a`` to port ``b`` (or platform) over water."""
        return self._path(self.port_node[a], self.port_node[b])

    def route_to_point(self, a: str, point: tuple[float, float]) -> np.ndarray:
        """From port ``a`` to the lane node nearest ``point``, then to the point itself."""
        path = self._path(self.port_node[a], self.nearest_node(point))
        return np.vstack([path, [point]])

    def nearest_node(self, point: tuple[float, float]) -> int:
        """The lane (or canal) node nearest ``point``, not a port's or a platform's."""
        return int(np.argmin(haversine_km(self.nodes["lat"].to_numpy(), self.nodes["lon"].to_numpy(), *point)
                             + np.where(self.nodes["name"].str.startswith("P:"), 1e9, 0)))

    def route_from_point(self, point: tuple[float, float], b: str) -> np.ndarray:
        return self.route_to_point(b, point)[::-1]

    def route_km(self, a: str, b: str) -> float:
        return float(self.dist[self.port_node[a], self.port_node[b]])

    def _path(self, i: int, j: int) -> np.ndarray:
        seq = [j]
        while seq[-1] != i:
            p = self.pred[i, seq[-1]]
            if p < 0:
                raise ValueError(f"no sea route between {self.nodes['name'][i]} and {self.nodes['name'][j]}")
            seq.append(p)
        seq = seq[::-1]
        return self.xy[seq]

    def lane_points(self) -> np.ndarray:
        """Lane waypoints (not ports), lat/lon: places on open-water lanes."""
        n = self.nodes[~self.nodes["name"].str.startswith(("P:", "CH"))]
        return n[["lat", "lon"]].to_numpy()


def _xyz(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@lru_cache(maxsize=2)
def load_geography(gazetteer_path: str | None = None) -> Geography:
    gaz = load_gazetteer(gazetteer_path)
    gj = json.loads((PACKAGED_DATA / "caspian_water.geojson").read_text())
    water = next(shapely.geometry.shape(f["geometry"]) for f in gj["features"] if f["properties"]["kind"] == "water")
    shapely.prepare(water)
    chan = next(shapely.geometry.shape(f["geometry"]) for f in gj["features"] if f["properties"]["kind"] == "channel")
    channel = np.array([(y, x) for x, y in chan.coords])
    lanes = pd.read_csv(PACKAGED_DATA / "caspian_lane_waypoints.csv")

    names: list[str] = []
    coords: list[tuple[float, float]] = []

    def node(name, lat, lon) -> int:
        if name in names:
            return names.index(name)
        names.append(name)
        coords.append((float(lat), float(lon)))
        return len(names) - 1

    edges: list[tuple[int, int]] = []
    for _, lane in lanes.sort_values(["lane", "seq"]).groupby("lane"):
        ids = [node(r.waypoint_id, r.lat, r.lon) for r in lane.itertuples()]
        edges += list(zip(ids[:-1], ids[1:]))
    # The canal: N3 (a lane waypoint) up the Bakhtemir and the Volga to Astrakhan.
    prev = names.index("VCSC_N3")
    for k in range(3, len(channel)):
        cur = node(f"CH{k}", *channel[k])
        edges.append((prev, cur))
        prev = cur
    for name, (lat, lon) in PLATFORMS.items():
        node(f"P:{name}", lat, lon)

    geo = Geography(gaz, water, channel, pd.DataFrame(), np.zeros(0), np.zeros(0))
    lane_idx = [i for i, n in enumerate(names) if not n.startswith(("CH", "P:"))]
    port_node: dict[str, int] = {}
    # Ports: Olya and Astrakhan sit on the canal line; the rest join the nearest lane
    # waypoint whose connector is on water outside the port's radius.
    for r in gaz.ports.itertuples():
        lat, lon, radius = float(r.lat), float(r.lon), float(r.radius_km)
        pn = node(f"P:{r.port_id}", lat, lon)
        if r.port_id in ("RUASF", "RUOYA"):
            d = haversine_km(channel[3:, 0], channel[3:, 1], lat, lon)
            k = int(np.argmin(d)) + 3
            edges.append((pn, names.index(f"CH{k}")))
            port_node[r.port_id] = pn
            continue
        cand = sorted(lane_idx, key=lambda i: float(haversine_km(coords[i][0], coords[i][1], lat, lon)))
        for i in cand:
            dkm = float(haversine_km(coords[i][0], coords[i][1], lat, lon))
            if dkm > MAX_CONNECTOR_KM:
                break
            if dkm <= radius or geo.segment_wet((lat, lon), coords[i], skip_a_km=radius):
                edges.append((pn, i))
                port_node[r.port_id] = pn
                break
    # Platforms join the nearest lane waypoint, or Baku's connector, over water.
    for name, (lat, lon) in PLATFORMS.items():
        pn = names.index(f"P:{name}")
        if not geo.on_water([lat], [lon])[0]:
            continue
        cand = sorted(lane_idx, key=lambda i: float(haversine_km(coords[i][0], coords[i][1], lat, lon)))
        for i in cand:
            if geo.segment_wet((lat, lon), coords[i]):
                edges.append((pn, i))
                port_node[f"PLATFORM:{name}"] = pn
                break

    xy = np.array(coords)
    # Lanes share legs (ABS_E-MC2 is on three): a sparse matrix would add duplicates up.
    edges = sorted({(min(e), max(e)) for e in edges if e[0] != e[1]})
    a = np.array([e[0] for e in edges])
    b = np.array([e[1] for e in edges])
    w = haversine_km(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1]) + 1e-6
    n = len(names)
    graph = csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    dist, pred = shortest_path(graph, directed=False, return_predecessors=True)
    geo.nodes = pd.DataFrame({"name": names, "lat": xy[:, 0], "lon": xy[:, 1]})
    geo.dist, geo.pred, geo.port_node, geo.xy = dist, pred, port_node, xy
    geo.coast_grid = _coast_grid(water)
    return geo


def _coast_grid(water, step: float = 0.05):
    """Distance (km) from each 0.05 deg cell centre to the nearest shoreline vertex."""
    rings = [np.asarray(water.exterior.coords)] + [np.asarray(r.coords) for r in water.interiors]
    verts = np.vstack(rings)
    # Densify long edges so vertex spacing stays near 1 km.
    pts = []
    for ring in rings:
        for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:]):
            k = max(int(haversine_km(y0, x0, y1, x1)), 1)
            f = np.arange(k) / k
            pts.append(np.column_stack([y0 + f * (y1 - y0), x0 + f * (x1 - x0)]))
    pts = np.vstack(pts) if pts else verts[:, ::-1]
    tree = cKDTree(_xyz(pts[:, 0], pts[:, 1]))
    lat0, lon0 = 36.0, 46.0
    lats = lat0 + (np.arange(int(12.0 / step)) + 0.5) * step
    lons = lon0 + (np.arange(int(10.0 / step)) + 0.5) * step
    glat, glon = np.meshgrid(lats, lons, indexing="ij")
    d, _ = tree.query(_xyz(glat.ravel(), glon.ravel()))
    return lat0, lon0, step, (d * 6371.0).reshape(glat.shape)
