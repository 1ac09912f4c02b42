"""Declared destination: does the AIS destination text name the port the voyage reached, or
the end of the whole trip past anchorage stops, or is it a stale entry naming the origin?"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..gazetteer import Gazetteer
from .index import VoyageIndex

FEATURES = [
    ("dest_declared_mismatch", "0/1/NaN", "declared AIS destination does not name the port reached (NaN: unknown, or an anchorage)"),
    ("dest_declared_is_origin", "0/1/NaN", "declared destination names the origin port: a stale entry, not a false one (NaN: unknown)"),
    ("trip_end_sensitive", "0/1/NaN", "the trip ends at a sensitive port: the voyage's destination, or past anchorage stops (a queue at the canal mouth) the port the track goes on to (NaN: end unknown, or the voyage continues a trip from an anchorage)"),
    ("trip_decl_mismatch", "0/1/NaN", "declared destination names neither the trip's end, nor this voyage's destination, nor its origin (a stale entry) (NaN: no text, or as trip_end_sensitive)"),
    ("trip_decl_mismatch_sensitive", "0/1/NaN", "trip_decl_mismatch on a trip that ends at a sensitive port: an innocuous port declared on the way to a sensitive one"),
]

#: Anchorage stops walked over to find where a trip ends: the canal mouth, then the river port
#: (a queue, the canal, a second queue at most).
TRIP_MAX_STOPS = 3


@dataclass
class Declared:
    features: dict
    text: np.ndarray      # per voyage: the declared destination at its last fix (object, None)
    trip_end: np.ndarray  # per voyage: port index where the trip ends, -1 unknown


def declared(ix: VoyageIndex, gaz: Gazetteer, anch: np.ndarray) -> Declared:
    """``anch``: anchorage flag per port index, -1 (no port) last
    (:func:`features.families.ports.anchorage_flags`)."""
    pos, nv = ix.pos, ix.nv
    text = (pos["destination"].iloc[ix.row_last].to_numpy(dtype=object, na_value=None)
            if "destination" in pos else np.full(nv, None))
    names_port = _declared_names(text, gaz)
    names_dest, names_origin = names_port(ix.dest), names_port(ix.origin)
    # An anchorage (a queue off a port) is where a ship waits, not the port it declares.
    out = {"dest_declared_mismatch": np.where(anch[ix.dest], np.nan, 1.0 - names_dest),
           "dest_declared_is_origin": names_origin}
    trip_end = trip_end_port(ix.origin, ix.dest, ix.vtid, anch)
    out.update(_trip_declared(trip_end, names_port(trip_end), names_dest, names_origin, gaz))
    return Declared(out, text, trip_end)


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9 ]+", " ", str(s).upper()).strip()


def destination_matches(declared: str, port_id: str, port_name: str) -> bool:
    """Does an AIS destination text name this port?

    >>> destination_matches("ASTRAKHAN", "RUAST", "Astrakhan (seaport)")
    True
    >>> destination_matches("RU AST", "RUAST", "Astrakhan (seaport)")
    True
    >>> destination_matches("BAKU", "RUAST", "Astrakhan (seaport)")
    False
    """
    d = _norm(declared)
    if not d:
        return False
    pid = re.sub(r"[^A-Z0-9]", "", str(port_id).upper())
    if pid and (pid in d.replace(" ", "") or (len(pid) == 5 and f"{pid[:2]} {pid[2:]}" in d)):
        return True
    words = [w for w in _norm(re.sub(r"\(.*?\)", " ", port_name)).split() if len(w) >= 4]
    dwords = [w for w in d.split() if len(w) >= 4]
    return any(w in d for w in words) or any(w in _norm(port_name) for w in dwords)


def _declared_names(declared: np.ndarray, gaz: Gazetteer):
    """A function port index per voyage -> 1.0/0.0 (the voyage's declared destination text names
    that port or not) or NaN (no text, or no port). Each distinct (text, port) pair is matched
    once: a fleet declares few texts."""
    has_text = np.array([bool(d) for d in declared], dtype=bool)
    seen: dict = {}

    def names_port(port: np.ndarray) -> np.ndarray:
        out = np.full(len(port), np.nan)
        for i in np.flatnonzero(has_text & (port >= 0)):
            key = (declared[i], int(port[i]))
            if key not in seen:
                seen[key] = destination_matches(declared[i], gaz.ids[key[1]], gaz.names[key[1]])
            out[i] = float(seen[key])
        return out
    return names_port


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
