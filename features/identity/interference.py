"""GPS interference: places and hours where several ships' positions jump at once.

Jamming and spoofing of satellite navigation make every ship in an area report the odd
position kilometres off. One ship's track then shows jumps that come back, or a short second
track beside its own: what a spoofing transmitter or a second hull on the number draws. What
tells interference apart is that it happens to many ships at once: a cell of
``gnss_cell_deg`` and a time bin of ``gnss_bin_h`` (with the cells and bins around it) in which at least
``gnss_min_ships`` different MMSIs had fixes rejected as implausible jumps. Events there are
not laid at one ship's door (:func:`interfered`). A distributed engine gathers every
vessel's jumps, finds the cells once and hands them to each bucket.

>>> import pandas as pd
>>> t = pd.to_datetime(["2024-10-01T10:00Z", "2024-10-01T10:20Z", "2024-10-01T10:40Z"])
>>> jumps = pd.DataFrame({"mmsi": [1, 2, 3], "timestamp": t, "lat": [40.1, 40.3, 40.2], "lon": [50.0, 50.2, 50.1]})
>>> interfered(np.array([40.2, 43.0]), np.array([50.1, 50.1]), np.repeat(t[0].value // 1000, 2), jumps).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import DEFAULT, Config
from ..tracks import epoch_us

_NEIGHBOURS = np.array([(dh, di, dj) for dh in (-1, 0, 1) for di in (-1, 0, 1) for dj in (-1, 0, 1)], np.int64)


def _keys(lat: np.ndarray, lon: np.ndarray, t_us: np.ndarray, cfg: Config) -> np.ndarray:
    """(time bin, lat cell, lon cell) per point, as columns of an (n, 3) array."""
    h = np.floor_divide(np.asarray(t_us, np.int64), int(cfg.gnss_bin_h * 3.6e9))
    i = np.floor((np.asarray(lat, float) + 90.0) / cfg.gnss_cell_deg).astype(np.int64)
    j = np.floor((np.asarray(lon, float) + 180.0) / cfg.gnss_cell_deg).astype(np.int64)
    return np.column_stack([h, i, j])


def _code(k: np.ndarray) -> np.ndarray:
    return (k[:, 0] * 1000 + k[:, 1]) * 1000 + k[:, 2]


def interference_cells(jumps: pd.DataFrame, cfg: Config = DEFAULT) -> np.ndarray:
    """Codes of the (time bin, cell) pairs in which, with their neighbours, at least
    ``gnss_min_ships`` MMSIs had a fix rejected as a jump (sorted, unique)."""
    if jumps is None or not len(jumps):
        return np.zeros(0, np.int64)
    k = _keys(jumps["lat"].to_numpy(float), jumps["lon"].to_numpy(float), epoch_us(jumps["timestamp"]), cfg)
    m = jumps["mmsi"].to_numpy(np.int64)
    # Each ship's jumps count once in every bin they touch or neighbour (jumps are few).
    near = (k[:, None, :] + _NEIGHBOURS[None, :, :]).reshape(-1, 3)
    pairs = pd.DataFrame({"code": _code(near), "mmsi": np.repeat(m, len(_NEIGHBOURS))}).drop_duplicates()
    ships = pairs.groupby("code").size()
    return np.sort(ships.index[ships.to_numpy() >= cfg.gnss_min_ships].to_numpy(np.int64))


def interfered(lat, lon, t_us, jumps: pd.DataFrame | None, cfg: Config = DEFAULT,
               cells: np.ndarray | None = None) -> np.ndarray:
    """Per point (deg, microseconds since the epoch): inside GPS interference
    (:func:`interference_cells` of ``jumps``, or ``cells`` if already found)."""
    cells = interference_cells(jumps, cfg) if cells is None else cells
    if not len(cells) or not len(lat):
        return np.zeros(len(lat), bool)
    return np.isin(_code(_keys(lat, lon, t_us, cfg)), cells)
