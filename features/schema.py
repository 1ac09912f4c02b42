"""Canonical AIS columns, the aliases of common exports, and the reasons a row is rejected.

The contract (``CONTRACT.md`` section 1) names the canonical columns; every reader maps its
input onto them with :func:`canonical_name`, so the rest of the pipeline sees one schema.
"""

from __future__ import annotations

import re

REQUIRED = ("mmsi", "timestamp", "lat", "lon")
OPTIONAL = (
    "sog", "cog", "heading", "nav_status", "imo", "name", "callsign", "ship_type",
    "destination", "draught", "receiver_type", "source",
)
CANONICAL = REQUIRED + OPTIONAL
NUMERIC_OPTIONAL = ("sog", "cog", "heading", "draught")
TEXT_OPTIONAL = ("nav_status", "imo", "name", "callsign", "ship_type", "destination",
                 "receiver_type", "source")
#: AIS speed over ground: 102.2 means "102.2 kn or more" and 102.3 "not available", the
#: largest value the 10-bit field holds. Readers and the REST schema take both; validation
#: keeps speeds below SOG_MAX_KN (nothing in the Caspian sails at 102 kn).
SOG_MAX_KN = 102.2
SOG_NOT_AVAILABLE_KN = 102.3
#: A numeric time above this is Unix milliseconds, below it seconds (1e11 s is the year 5138;
#: 1e11 ms is 1973).
MS_THRESHOLD = 1e11
#: Identity columns that a static (no position) row carries to its vessel's positions.
IDENTITY = ("imo", "name", "callsign", "ship_type", "destination", "draught")

# Aliases after normalisation (lower case, '#' dropped, spaces/dashes -> '_').
# US MarineCadastre, Danish Maritime Authority and Global Fishing Watch exports, plus a few
# spellings seen in the wild.
ALIASES = {
    "mmsi": "mmsi", "ssvid": "mmsi", "userid": "mmsi", "user_id": "mmsi",
    "timestamp": "timestamp", "basedatetime": "timestamp", "datetime": "timestamp",
    "time": "timestamp", "ts": "timestamp",
    "lat": "lat", "latitude": "lat",
    "lon": "lon", "longitude": "lon", "lng": "lon", "long": "lon",
    "sog": "sog", "speed": "sog", "speed_over_ground": "sog",
    "cog": "cog", "course": "cog", "course_over_ground": "cog",
    "heading": "heading", "true_heading": "heading",
    "nav_status": "nav_status", "status": "nav_status", "navigational_status": "nav_status",
    "navstatus": "nav_status",
    "imo": "imo",
    "name": "name", "shipname": "name", "vesselname": "name", "vessel_name": "name",
    "ship_name": "name",
    "callsign": "callsign", "call_sign": "callsign",
    "ship_type": "ship_type", "shiptype": "ship_type", "vesseltype": "ship_type",
    "vessel_type": "ship_type",
    "destination": "destination",
    "draught": "draught", "draft": "draught",
    "receiver_type": "receiver_type",
    "source": "source",
}

# Reasons a row is rejected. Each is a category counted in the output's metadata; the
# specific problem goes in the rejected file's ``detail`` column.
UNPARSEABLE = "unparseable row"
MISSING_FIELD = "missing required field"
BAD_TIMESTAMP = "unparseable timestamp"
INVALID_MMSI = "invalid MMSI"
NOT_AVAILABLE = "position not available (91/181)"
OUT_OF_RANGE = "position out of range"
NULL_ISLAND = "position at 0,0 (no GPS fix)"
DUPLICATE = "duplicate message"
JUMP = "implausible jump (speed over the limit)"
NOT_VESSEL = "not a vessel report"
#: Outside the plausible window (``Config.min_timestamp`` .. run time + ``max_timestamp_ahead_days``):
#: a receiver clock reset to 1970 or a typed 9999 would otherwise make a gap of millions of hours.
TIMESTAMP_RANGE = "timestamp out of range"
# Appended, never reordered: reasons are stored as category codes in this order.
REASONS = (UNPARSEABLE, MISSING_FIELD, BAD_TIMESTAMP, INVALID_MMSI, NOT_AVAILABLE,
           OUT_OF_RANGE, NULL_ISLAND, DUPLICATE, JUMP, NOT_VESSEL, TIMESTAMP_RANGE)

#: Ship-station MMSIs start with a Maritime Identification Digit group 2xx-7xx; 0xx are
#: coast stations and groups, 1xx SAR aircraft, 8xx handhelds, 9xx aids and devices.
MMSI_MIN, MMSI_MAX = 200_000_000, 799_999_999

# Internal bookkeeping columns: where a row came from, and what became of it.
FILE_COL, LINE_COL, REASON_COL, DETAIL_COL, STATIC_COL = "_file", "_line", "_reason", "_detail", "_static"
INTERNAL = (FILE_COL, LINE_COL, REASON_COL, DETAIL_COL, STATIC_COL)

_norm_re = re.compile(r"[\s\-]+")


def canonical_name(column: str) -> str:
    """Map an input column name to its canonical name; unknown names pass through unchanged.

    >>> canonical_name("# Timestamp"), canonical_name("BaseDateTime"), canonical_name("msgid")
    ('timestamp', 'timestamp', 'msgid')
    """
    key = _norm_re.sub("_", str(column).replace("#", "").strip().lower())
    return ALIASES.get(key, str(column))
