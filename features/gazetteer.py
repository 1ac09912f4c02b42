"""Port gazetteer: load, validate, and answer "which port is this fix in / near?" fast.

The file has the columns of ``caspian_ports.csv``: port_id, name, country, lat, lon,
radius_km, kind, sensitive (yes/no), coord_source, and optionally aliases (``|``-separated
spellings, transliterations, former names and UN/LOCODEs a destination field may use) with
alias_source. ``radius_km`` is the entry radius of a port visit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .config import PACKAGED_DATA
from .errors import GazetteerError
from .geo import haversine_km

DEFAULT_GAZETTEER = PACKAGED_DATA / "caspian_ports.csv"
REQUIRED_COLUMNS = ("port_id", "name", "lat", "lon", "radius_km", "sensitive")
#: Grid resolution of the "which port is in reach" look-up. Small enough that a cell rarely
#: reaches two ports, large enough that the Caspian grid is a few hundred kB.
_LOOKUP_CELL_DEG = 0.05


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)  # its own copy: the frame's column stays writable
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """Ports as parallel arrays (index = row of ``ports``)."""

    ports: pd.DataFrame
    _grids: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.ports)

    # The columns as arrays, read once: every voyage-feature call asks for them several times,
    # and a DataFrame column lookup costs ~10 us each time (a REST track pays ~20 of them).
    # Read-only, since they are shared.

    @cached_property
    def ids(self) -> np.ndarray:
        return _frozen(self.ports["port_id"].to_numpy(dtype=object))

    @cached_property
    def names(self) -> np.ndarray:
        return _frozen(self.ports["name"].to_numpy(dtype=object))

    @cached_property
    def lat(self) -> np.ndarray:
        return _frozen(self.ports["lat"].to_numpy(dtype=float))

    @cached_property
    def lon(self) -> np.ndarray:
        return _frozen(self.ports["lon"].to_numpy(dtype=float))

    @cached_property
    def radius_km(self) -> np.ndarray:
        return _frozen(self.ports["radius_km"].to_numpy(dtype=float))

    @cached_property
    def sensitive(self) -> np.ndarray:
        return _frozen(self.ports["sensitive"].to_numpy(dtype=bool))

    @cached_property
    def anchorage(self) -> np.ndarray:
        """Per port: an anchorage (where ships queue off a port), not a berth; all False
        without a ``kind`` column."""
        kinds = self.ports["kind"].to_numpy(dtype=object) if "kind" in self.ports else np.full(self.n, "")
        return _frozen(kinds == "anchorage")

    @cached_property
    def aliases(self) -> tuple[tuple[str, ...], ...]:
        """Per port, every text that names it: its id (and a five-letter id with the space a
        UN/LOCODE is written with), its name without qualifiers, each part of a name written
        ``A / B``, and the ``aliases`` column's entries. An alias may name several ports
        (``BAKU``: the old port and Alat, where the Baku International Sea Trade Port moved).
        """
        extra = self.ports["aliases"].fillna("").astype(str) if "aliases" in self.ports else pd.Series([""] * self.n)
        out = []
        for i in range(self.n):
            pid, short = str(self.ids[i]), self.short_name(i)
            names = [pid, short, *short.split(" / "), *(a.strip() for a in extra.iloc[i].split("|"))]
            if re.fullmatch(r"[A-Z]{2}[A-Z0-9]{3}", pid):
                names.append(f"{pid[:2]} {pid[2:]}")
            out.append(tuple(dict.fromkeys(n for n in names if n)))
        return tuple(out)

    def short_name(self, idx: int) -> str:
        """Name without the parenthesised qualifier: 'Astrakhan', 'Bandar-e Anzali'."""
        return re.sub(r"\s*\(.*?\)\s*", " ", str(self.names[idx])).strip()

    def distances(self, lat, lon) -> np.ndarray:
        """(n_points, n_ports) km. For few points (gap ends), not for every fix."""
        lat = np.asarray(lat, float)[:, None]
        lon = np.asarray(lon, float)[:, None]
        return haversine_km(lat, lon, self.lat[None, :], self.lon[None, :])

    def nearest(self, lat, lon, sensitive_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(port index, km) of the nearest (sensitive) port per point; -1/NaN when there is none."""
        n = len(np.asarray(lat))
        cols = np.flatnonzero(self.sensitive) if sensitive_only else np.arange(self.n)
        if n == 0 or len(cols) == 0:
            return np.full(n, -1, np.int64), np.full(n, np.nan)
        d = self.distances(lat, lon)[:, cols]
        d = np.where(np.isnan(d), np.inf, d)
        k = np.argmin(d, axis=1)
        best = d[np.arange(n), k]
        idx = np.where(np.isfinite(best), cols[k], -1)
        return idx, np.where(np.isfinite(best), best, np.nan)

    def share_outside(self, lat, lon, km: float, most: int = 10_000) -> float:
        """Share of the points farther than ``km`` from every port: how much of a feed lies
        outside the list's region (read on at most ``most`` points at even steps, to about a
        percent; 0 for none).

        >>> g = load_gazetteer()
        >>> g.share_outside([37.47, 55.7], [49.46, 12.6], km=500)  # Anzali, Copenhagen
        0.5
        """
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        if len(lat) == 0 or self.n == 0:
            return 0.0
        step = max(len(lat) // most, 1)
        return float(np.mean(~(self.nearest(lat[::step], lon[::step])[1] <= km)))

    def in_reach(self, lat, lon, reach_km: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Per point: the port whose ``reach_km`` circle holds it (-1 if none) and the distance.

        Vectorised over millions of fixes through a coarse grid that lists, per cell, the one
        port within reach of it; only points in such cells get an exact distance.
        """
        grid = self._grids.get(key)
        if grid is None:
            grid = self._build_grid(np.asarray(reach_km, float))
            self._grids[key] = grid
        lat0, lon0, cells = grid
        lat = np.asarray(lat, float)
        lon = np.asarray(lon, float)
        n = len(lat)
        idx = np.full(n, -1, np.int32)
        dist = np.full(n, np.nan)
        if cells.size == 0 or n == 0:
            return idx, dist
        ni, nj = cells.shape
        inv = 1.0 / _LOOKUP_CELL_DEG
        lat1, lon1 = lat0 + ni * _LOOKUP_CELL_DEG, lon0 + nj * _LOOKUP_CELL_DEG
        ok = (lat >= lat0) & (lat < lat1)
        ok &= (lon >= lon0)
        ok &= (lon < lon1)
        rows = None if ok.all() else np.flatnonzero(ok)
        la, lo = (lat, lon) if rows is None else (lat[rows], lon[rows])
        flat = ((la - lat0) * inv).astype(np.int64)
        flat *= nj
        flat += ((lo - lon0) * inv).astype(np.int64)
        cand = cells.ravel()[flat]
        hit = np.flatnonzero(cand >= 0)
        rows = hit if rows is None else rows[hit]
        cand = cand[hit]
        d = haversine_km(lat[rows], lon[rows], self.lat[cand], self.lon[cand])
        inside = d <= np.asarray(reach_km, float)[cand]
        idx[rows[inside]] = cand[inside]
        dist[rows[inside]] = d[inside]
        return idx, dist

    def _build_grid(self, reach: np.ndarray):
        if self.n == 0:
            return 0.0, 0.0, np.empty((0, 0), np.int64)
        pad = reach.max() / 111.0 / max(np.cos(np.radians(np.abs(self.lat).max())), 0.05) + _LOOKUP_CELL_DEG
        lat0 = self.lat.min() - pad
        lon0 = self.lon.min() - pad
        ni = int(np.ceil((self.lat.max() + pad - lat0) / _LOOKUP_CELL_DEG)) + 1
        nj = int(np.ceil((self.lon.max() + pad - lon0) / _LOOKUP_CELL_DEG)) + 1
        ci = lat0 + (np.arange(ni) + 0.5) * _LOOKUP_CELL_DEG
        cj = lon0 + (np.arange(nj) + 0.5) * _LOOKUP_CELL_DEG
        clat, clon = np.meshgrid(ci, cj, indexing="ij")
        half_diag = haversine_km(0, 0, _LOOKUP_CELL_DEG / 2, _LOOKUP_CELL_DEG / 2)
        d = haversine_km(clat[..., None], clon[..., None], self.lat, self.lon)  # (ni, nj, ports)
        slack = d - reach  # <= 0: the cell centre is within reach
        slack = np.where(slack <= half_diag, slack, np.inf)
        best = np.argmin(slack, axis=2)
        cells = np.where(np.isfinite(np.min(slack, axis=2)), best, -1).astype(np.int64)
        return lat0, lon0, cells


def read_places(path: str | Path, required: tuple[str, ...], what: str, row: str) -> pd.DataFrame:
    """A CSV of places (``what``: "gazetteer"; each a ``row``: "port") with the ``required``
    columns, the first of them the id, and numeric lat, lon (deg) and radius_km (> 0); a
    :class:`GazetteerError` names the file and the first bad row."""
    try:
        t = pd.read_csv(path, dtype={required[0]: "str", "name": "str"})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise GazetteerError(f"{path}: not a readable {what} CSV ({err})") from err
    missing = [c for c in required if c not in t.columns]
    if missing:
        raise GazetteerError(f"{path}: {what} lacks column(s) {', '.join(missing)}")
    for c in ("lat", "lon", "radius_km"):
        t[c] = pd.to_numeric(t[c], errors="coerce")
    bad = t[t[["lat", "lon", "radius_km"]].isna().any(axis=1) | (t["lat"].abs() > 90)
            | (t["lon"].abs() > 180) | (t["radius_km"] <= 0)]
    if len(bad):
        raise GazetteerError(f"{path}: {row} {bad[required[0]].iloc[0]!r} has a bad lat, lon or radius_km")
    return t


def load_gazetteer(path: str | Path | None = None) -> Gazetteer:
    """Read and check a gazetteer CSV (default: the packaged curated Caspian list)."""
    path = Path(path) if path else DEFAULT_GAZETTEER
    ports = read_places(path, REQUIRED_COLUMNS, "gazetteer", "port")
    if ports["port_id"].duplicated().any():
        raise GazetteerError(f"{path}: duplicate port_id {ports['port_id'][ports['port_id'].duplicated()].iloc[0]!r}")
    sens = ports["sensitive"].astype("str").str.strip().str.lower()
    if not sens.isin(["yes", "no", "true", "false", "1", "0"]).all():
        raise GazetteerError(f"{path}: column sensitive must be yes/no")
    ports["sensitive"] = sens.isin(["yes", "true", "1"])
    return Gazetteer(ports.reset_index(drop=True))
