"""Vectorised spherical geometry on WGS84 degrees (spherical Earth; < 0.5 % error, enough for
distances between AIS fixes and ports)."""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
KM_PER_NM = 1.852


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km; arrays broadcast (degrees in)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlam = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


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


def cell_key(lat, lon, cell_deg: float) -> np.ndarray:
    """int64 key of the global grid cell (``cell_deg`` square) holding each point."""
    i = np.floor((np.asarray(lat) + 90.0) / cell_deg).astype(np.int64)
    j = np.floor((np.asarray(lon) + 180.0) / cell_deg).astype(np.int64)
    return i * 100_000 + j


def key_offset(key: np.ndarray, di: int, dj: int) -> np.ndarray:
    """The key of the cell ``di`` rows and ``dj`` columns away (no wrap at the date line)."""
    return key + di * 100_000 + dj
