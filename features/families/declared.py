"""Declared destination: does the AIS destination text name the port the voyage reached, or
the end of the whole trip past anchorage stops, or is it a stale entry naming the origin?

The text is read by :mod:`features.destinations` (spellings, codes, typos, routes, non-port
entries). Text that names no known port (``FOR ORDERS``, ``CASPIAN SEA``, a spelling the
gazetteer does not know, nothing) is unknown evidence: every feature here is then NaN, never
a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..destinations import reader_for
from ..gazetteer import Gazetteer
from .index import VoyageIndex

FEATURES = [
    ("dest_declared_mismatch", "0/1/NaN", "declared AIS destination names known ports, none of them the port reached (NaN: names no known port, or the voyage ends at an anchorage or nowhere)"),
    ("dest_declared_is_origin", "0/1/NaN", "declared destination names the origin port: a stale entry, not a false one (NaN: names no known port)"),
    ("trip_end_sensitive", "0/1/NaN", "the trip ends at a sensitive port: the voyage's destination, or past anchorage stops (a queue at the canal mouth) the port the track goes on to (NaN: end unknown, or the voyage continues a trip from an anchorage)"),
    ("trip_decl_mismatch", "0/1/NaN", "declared destination names known ports, none of them the trip's end, this voyage's destination or its origin (a stale entry) (NaN: names no known port, or as trip_end_sensitive)"),
    ("trip_decl_mismatch_sensitive", "0/1/NaN", "trip_decl_mismatch on a trip that ends at a sensitive port: an innocuous port declared on the way to a sensitive one"),
]
#: The model inputs read from free text: supporting evidence only (a voyage they alone make
#: risky is held below ``high``, :meth:`training.model.VoyageRiskModel.risk`).
TEXT_FEATURES = tuple(name for name, _, _ in FEATURES if name != "trip_end_sensitive")

#: Anchorage stops walked over to find where a trip ends: the canal mouth, then the river port
#: (a queue, the canal, a second queue at most).
TRIP_MAX_STOPS = 3
#: Per voyage, what its declared destination says (contract: names the port reached, names
#: another known port, or unknown).
REACHED, OTHER_PORT, UNKNOWN = "reached", "other port", "unknown"


@dataclass
class Declared:
    features: dict
    text: np.ndarray      # per voyage: the declared destination at its last fix (object, None)
    trip_end: np.ndarray  # per voyage: port index where the trip ends, -1 unknown
    ports: np.ndarray     # per voyage: the port ids the text names, '|'-joined (object, None)
    reading: np.ndarray   # per voyage: REACHED, OTHER_PORT or UNKNOWN (object)


def declared(ix: VoyageIndex, gaz: Gazetteer, anch: np.ndarray, cfg: Config) -> Declared:
    """``anch``: anchorage flag per port index, -1 (no port) last
    (:func:`features.families.ports.anchorage_flags`)."""
    pos, nv = ix.pos, ix.nv
    text = (pos["destination"].iloc[ix.row_last].to_numpy(dtype=object, na_value=None)
            if "destination" in pos else np.full(nv, None))
    read = reader_for(gaz, cfg).read_all(text)
    names_dest, names_origin = read.names(ix.dest), read.names(ix.origin)
    # An anchorage (a queue off a port) is where a ship waits, not the port it declares.
    out = {"dest_declared_mismatch": np.where(anch[ix.dest], np.nan, 1.0 - names_dest),
           "dest_declared_is_origin": names_origin}
    trip_end = trip_end_port(ix.origin, ix.dest, ix.vtid, anch)
    names_end = read.names(trip_end)
    out.update(_trip_declared(trip_end, names_end, names_dest, names_origin, gaz))
    # What the text says: names the port reached (the destination, or the trip's end past
    # anchorages), names another known port, or unknown.
    reached = (names_dest == 1) | (names_end == 1)
    reading = np.where(reached, REACHED, np.where(read.known, OTHER_PORT, UNKNOWN)).astype(object)
    return Declared(out, text, trip_end, read.port_ids, reading)


def trip_end_port(origin, dest, vtid, anch) -> np.ndarray:
    """Per voyage, the port index where its trip ends (-1: unknown): its destination, or when
    that is an anchorage, the destination of the track's next voyage, over up to
    :data:`TRIP_MAX_STOPS` stops. A voyage that starts at an anchorage continues a trip judged
    on its first leg: -1 too.

    ``origin``, ``dest``: port index per voyage (-1: none); ``vtid``: track per voyage, voyages
    in track and time order; ``anch``: anchorage flag per port index, -1 (no port) last.

    >>> anch = np.array([True, False, False])  # port 0 is an anchorage; the last entry: no port
    >>> # voyage 0 queues at port 0 and goes on to port 1; voyage 1 starts at the anchorage
    >>> trip_end_port(np.array([1, 0]), np.array([0, 1]), np.array([0, 0]), anch).tolist()
    [1, -1]
    """
    nv = len(dest)
    k, end = np.arange(nv), dest.copy()
    for _ in range(TRIP_MAX_STOPS):
        nxt = np.minimum(k + 1, nv - 1)
        go = anch[end] & (k + 1 < nv) & (vtid[nxt] == vtid)
        k = np.where(go, nxt, k)
        end = np.where(go, dest[k], end)
    return np.where(anch[origin] | anch[end], -1, end)


def _trip_declared(trip_end, names_end, names_dest, names_origin, gaz: Gazetteer) -> dict:
    """``trip_end_sensitive``, ``trip_decl_mismatch``, ``trip_decl_mismatch_sensitive``: the
    declared destination judged against the whole trip, so a ship bound for Astrakhan that
    queues at the canal mouth first still matches 'ASTRAKHAN'. ``names_*``: 1/0/NaN per
    voyage, the text names the trip's end, the destination, the origin."""
    known = trip_end >= 0
    t_sens = np.where(known, gaz.sensitive[np.maximum(trip_end, 0)], np.nan).astype(float)
    # No text (names_end NaN) stays NaN; a missing destination or origin names nothing (0).
    named = np.maximum(np.fmax(np.nan_to_num(names_dest), np.nan_to_num(names_origin)), names_end)
    mismatch = np.where(known, 1.0 - named, np.nan)
    return {"trip_end_sensitive": t_sens, "trip_decl_mismatch": mismatch,
            "trip_decl_mismatch_sensitive": mismatch * t_sens}
