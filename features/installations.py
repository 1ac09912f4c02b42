"""Offshore installations: oil platforms where supply boats lie alongside for hours or days,
often beyond the shore receivers' reach.

Two boats silent at one platform were together, and it is their job: a stay at an
installation is service, as a stay in a port is a call (:mod:`features.events.rendezvous`
pairs no silence that includes one). The packaged list (``data/offshore_installations.csv``:
id, name, lat, lon, radius_km, source) holds the Caspian fields the simulator's supply boats
serve, at approximate public positions.

>>> inst = load_installations()
>>> inst.near([40.226, 39.951, 41.0], [50.841, 50.308, 50.0]).tolist()
[True, True, False]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import PACKAGED_DATA
from .gazetteer import read_places
from .geo import haversine_km

DEFAULT_INSTALLATIONS = PACKAGED_DATA / "offshore_installations.csv"
_COLUMNS = ("installation_id", "name", "lat", "lon", "radius_km")


@dataclass(frozen=True)
class Installations:
    """Installations as parallel arrays: ids, lat/lon (deg), radius_km (km)."""

    ids: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    radius_km: np.ndarray

    def near(self, lat, lon) -> np.ndarray:
        """Per point (deg): within some installation's radius. Points outside the installations'
        bounding box (most fixes of a month) get no distance computed."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        out = np.zeros(len(lat), bool)
        if not len(self.ids) or not len(lat):
            return out
        dlat = float(self.radius_km.max()) / 111.0
        dlon = dlat / max(np.cos(np.radians(np.abs(self.lat).max() + dlat)), 0.1)
        box = (lat >= self.lat.min() - dlat) & (lat <= self.lat.max() + dlat)
        box &= (lon >= self.lon.min() - dlon) & (lon <= self.lon.max() + dlon)
        rows = np.flatnonzero(box)
        d = haversine_km(lat[rows, None], lon[rows, None], self.lat[None, :], self.lon[None, :])
        out[rows] = (d <= self.radius_km[None, :]).any(axis=1)
        return out


def load_installations(path: str | Path | None = None) -> Installations:
    """Read and check an installations CSV (default: the packaged Caspian list, read once)."""
    return _load(str(Path(path) if path else DEFAULT_INSTALLATIONS))


@lru_cache(maxsize=4)
def _load(path: str) -> Installations:
    t = read_places(path, _COLUMNS, "installations list", "installation")
    return Installations(tuple(t["installation_id"]), *(t[c].to_numpy(float) for c in ("lat", "lon", "radius_km")))
