"""The catalogue of voyage columns: every model input (``FEATURES``) and every descriptive
column (``CONTEXT``) with its unit and meaning. ``docs/features.md``, the service's request
schema and the empty table all come from here; a test keeps the voyage table in step.
"""

from __future__ import annotations

from .families import FAMILIES

#: Model inputs (column, unit, meaning), family by family. Everything here is computable from
#: one vessel's track plus the gazetteer and the reference coverage grid, so /score computes
#: it exactly as training did.
FEATURES: list[tuple[str, str, str]] = [f for family in FAMILIES for f in family.FEATURES]
FEATURE_NAMES = [f[0] for f in FEATURES]

# Descriptive columns: identity, times, ports, and evidence for reasons. Not model inputs.
CONTEXT: list[tuple[str, str, str]] = [
    ("voyage_id", "", "stable id: track_id + start time (UTC)"),
    ("mmsi", "", "MMSI"),
    ("track_id", "", "MMSI-track number; one MMSI may carry several ships"),
    ("name", "", "latest reported ship name"),
    ("imo", "", "IMO number"),
    ("callsign", "", "call sign"),
    ("flag", "ISO2", "flag from the MMSI's MID"),
    ("ship_type", "", "AIS ship type as reported"),
    ("start", "UTC", "first fix of the voyage (departure from the origin port)"),
    ("end", "UTC", "last fix (arrival at the destination port)"),
    ("origin_port", "", "port_id of the origin visit; empty when the voyage starts at sea or at the edge of the data"),
    ("destination_port", "", "port_id of the destination visit; empty when it ends at sea or at the edge of the data"),
    ("origin_exit_observed", "bool", "the departure from the origin was seen (not across a gap)"),
    ("dest_entry_observed", "bool", "the arrival at the destination was seen"),
    ("declared_destination", "", "AIS destination field at the end of the voyage, as typed"),
    ("declared_ports", "", "the gazetteer ports that text names ('|'-joined: a route names several); empty when it names none"),
    ("declared_reading", "", "what the text says: 'reached' (names the port reached, or the trip's end), 'other port' (names known ports, not that one) or 'unknown' (names no known port: orders, a sea area, a spelling not known, nothing)"),
    ("trip_end_port", "", "where the trip ends: the destination, or past anchorage stops the port the track goes on to"),
    ("usual_interval_s", "s", "the track's mean reporting interval outside gaps (a transponder trait, not behaviour: not a model input)"),
    ("lg_start", "UTC", "start of the longest gap"),
    ("lg_end", "UTC", "end of the longest gap"),
    ("lg_start_lat", "deg", "latitude of the fix before the longest gap"),
    ("lg_start_lon", "deg", "longitude of the fix before the longest gap"),
    ("lg_end_lat", "deg", "latitude of the fix after the longest gap"),
    ("lg_end_lon", "deg", "longitude of the fix after the longest gap"),
    ("lg_start_port", "", "nearest port to the gap start"),
    ("lg_start_sensitive_port", "", "nearest sensitive port to the gap start"),
    ("dc_port", "", "the best candidate port for a dark call (sensitive first)"),
    ("dc_gap_h", "h", "duration of the gap in which that call fits"),
    ("dc_port_spare_h", "h", "spare time of that call"),
    ("ctx_neighbour_vessel_h", "vessel-h", "live data: other vessels' reporting hours near the longest gap's start while it lasted (not a model input)"),
    ("ctx_neighbours_per_h", "vessels", "the same per hour of gap (0 while others report = a switch-off, not a coverage hole)"),
    ("ctx_cell_day_gap_rate", "fraction", "live data: share of all tracks' intervals in the gap's start cell that UTC day that are gaps"),
    ("ctx_cell_day_interval_s", "s", "live data: their mean reporting interval outside gaps"),
]
