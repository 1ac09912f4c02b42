"""Vectorised spherical geometry on WGS84 degrees (spherical Earth; < 0.5 % error, enough for
distances between AIS fixes and ports)."""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
KM_PER_NM = 1.852
#: Kilometres in a degree of latitude (the mean radius's, to the metre): grid cells, local planes.
KM_PER_DEG = 111.195


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km; arrays broadcast (degrees in)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = np.subtract(p2, p1)
    dlam = np.radians(np.subtract(lon2, lon1))
    shapes = {np.shape(x) for x in (lat1, lon1, lat2, lon2)}
    if len(shapes) > 1 or np.ndim(dphi) == 0:  # broadcasting or scalars: the plain formula
        a = np.sin(dphi * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam * 0.5) ** 2
        return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    # In-place steps: on millions of fixes the temporaries, not the trigonometry, cost most.
    dphi *= 0.5
    a = np.sin(dphi, out=dphi)
    a *= a
    dlam *= 0.5
    s = np.sin(dlam, out=dlam)
    s *= s
    c = np.cos(p1)
    c *= np.cos(p2)
    c *= s
    a = a + c
    np.clip(a, 0.0, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2.0 * EARTH_RADIUS_KM
    return a


def pair_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """:func:`haversine_km` of one pair of Python floats: the same operations in the same order
    (``math``'s sin, cos and asin give numpy's bits on x86-64 without AVX-512, measured on 2 M
    values), at a Python call's cost where numpy's per-call cost on a few values dominates.

    >>> round(pair_km(46.35, 48.05, 37.47, 53.93), 1) == round(float(haversine_km(46.35, 48.05, 37.47, 53.93)), 1)
    True
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def planar_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Equirectangular distance in km: within 0.5 % of great-circle up to ~500 km away from
    the poles, at a fraction of the cost. For ranking and thresholds, not for reported gaps."""
    k = np.pi / 180.0 * EARTH_RADIUS_KM
    dy = np.subtract(lat2, lat1)
    dy *= k
    dx = np.subtract(lon2, lon1)
    if np.ndim(dx) and np.abs(dx).max(initial=0.0) > 180.0:  # across the date line
        dx = (dx + 180.0) % 360.0 - 180.0
    mid = np.add(lat1, lat2)
    mid *= np.pi / 360.0
    c = np.cos(mid, out=mid) if np.ndim(mid) else np.cos(mid)
    dx = dx * c
    dx *= k
    return np.hypot(dx, dy)


def step_km(lat: np.ndarray, lon: np.ndarray, exact_above_km: float = 20.0) -> np.ndarray:
    """Distance (km) from each point to the next, length n - 1.

    Most AIS steps are a few hundred metres, where the equirectangular formula equals the
    great circle to metres at half the cost; steps longer than ``exact_above_km`` (gaps) are
    recomputed exactly."""
    d = planar_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    far = np.flatnonzero(d > exact_above_km)
    if len(far):
        d[far] = haversine_km(lat[far], lon[far], lat[far + 1], lon[far + 1])
    return d


def bearing_deg(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Initial great-circle bearing from point 1 to point 2, degrees clockwise from north [0, 360)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlam = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dlam) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dlam)
    return (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0


def angle_diff_deg(a, b) -> np.ndarray:
    """Smallest absolute difference between two bearings, degrees in [0, 180]."""
    d = np.abs((np.asarray(a) - np.asarray(b)) % 360.0)
    return np.minimum(d, 360.0 - d)


def grid_shape(cell_deg: float) -> tuple[int, int]:
    """Rows and columns of the global grid of ``cell_deg`` squares."""
    return int(np.ceil(180.0 / cell_deg)) + 1, int(np.ceil(360.0 / cell_deg)) + 1


def cell_key(lat, lon, cell_deg: float) -> np.ndarray:
    """int64 index (row-major) of the global grid cell holding each point: dense, so a
    bincount over a whole ocean's fixes needs no sort."""
    ncol = grid_shape(cell_deg)[1]
    i = ((np.asarray(lat) + 90.0) * (1.0 / cell_deg)).astype(np.int64)
    j = ((np.asarray(lon) + 180.0) * (1.0 / cell_deg)).astype(np.int64)
    i *= ncol
    i += j
    return i


def key_offset(key: np.ndarray, di: int, dj: int, cell_deg: float) -> np.ndarray:
    """The key of the cell ``di`` rows and ``dj`` columns away (no wrap at the date line)."""
    return key + di * grid_shape(cell_deg)[1] + dj
