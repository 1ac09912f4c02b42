"""Edges: voyages that begin or end at sea, and those cut by the edges of the data (the ship
was already under way when its track begins, or still under way when it ends)."""

from __future__ import annotations

import numpy as np

from ..gazetteer import Gazetteer
from ..tracks import group_starts
from .index import VoyageIndex

FEATURES = [
    ("starts_at_sea_km", "km", "voyage without an origin: distance from its first fix to the nearest port (0 with an origin)"),
    ("ends_at_sea_km", "km", "voyage without a destination: distance from its last fix to the nearest port (0 with one)"),
    ("open_start", "0/1", "the voyage is its track's first and has no origin port: the ship was already under way when its track begins (at the start of the data, or when it first appears), so the voyage's beginning is not in the data"),
    ("open_end", "0/1", "the voyage is its track's last and has no destination port: the ship was still under way when its track ends (at the end of the data, or when it last reported), so the voyage's end is not in the data"),
]


def edges(ix: VoyageIndex, gaz: Gazetteer) -> dict:
    rf, rl = ix.row_first, ix.row_last
    _, first_km = gaz.nearest(ix.lat[rf], ix.lon[rf])
    _, last_km = gaz.nearest(ix.lat[rl], ix.lon[rl])
    # Voyages come in track order: a track's first (last) voyage is where the track id changes.
    track_first = group_starts(ix.vtid)
    track_last = np.append(track_first[1:], True)[:ix.nv]
    return {"starts_at_sea_km": np.where(ix.origin >= 0, 0.0, first_km),
            "ends_at_sea_km": np.where(ix.dest >= 0, 0.0, last_km),
            "open_start": (track_first & (ix.origin < 0)).astype(float),
            "open_end": (track_last & (ix.dest < 0)).astype(float)}
