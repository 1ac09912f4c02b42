"""What a REST request may carry: the request models (strict types, so a string where the
schema says number is a 400 naming the field, before any batching), the per-request limits,
and a track request as a positions frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Annotated, Optional, Required

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictStr, create_model, with_config
from typing_extensions import TypedDict  # pydantic wants this one before Python 3.12

from features.catalogue import FEATURE_NAMES
from features.frames import frame_of
from features.ids import str_array
from features import schema as S
from features.readers import READ_SUFFIXES
from features.schema import FILE_COL, LINE_COL, SOG_NOT_AVAILABLE_KN
from features.sources import file_col
from features.tracks import utc_times

#: Largest track one /score request may carry: a month of fixes every minute is ~45 k.
MAX_POSITIONS = 50_000


#: Largest batch /score_voyages takes in one request: also BentoML's batch size, so one
#: request never has to be split across batches.
MAX_VOYAGES = 10_000

#: How long (ms) a /score_voyages request may wait in BentoML's batch queue before it is answered
#: 503 busy (BentoML's default is 60 s). 1 s, our first choice, drew three 503s from eight
#: steady clients on a slow shared CI machine while /score calls held the event loop; 10 s bounds
#: a caller's wait and keeps such load answered. The batching window is learnt from traffic.
BATCH_QUEUE_LIMIT_MS = 10_000


REQUIRED_FIELDS = tuple(c for c in S.REQUIRED if c != "mmsi")  # the track has one MMSI


#: Suffixes an upload may name its format by (``suffix`` field or the file's own name);
#: anything else is sniffed from the content.
SUFFIXES = ("", *READ_SUFFIXES, *(s + ".gz" for s, kind in READ_SUFFIXES.items() if kind != "parquet"), ".gz")


def _whole(v):
    """JSON Schema's integer is any number without a fraction (``273000001.0`` too); strings and
    booleans stay what they are, for strict validation to refuse."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


#: An integer field: a whole number, never text or a boolean.
WholeNumber = Annotated[int, BeforeValidator(_whole)]


# A typed dict, not a model: validating 1,000 fixes into dicts costs ~0.6 ms, into model
# instances ~0.8 ms, and nothing here needs an instance. Strict: a number where the schema says
# string, or a string where it says number, is a 400 naming the field (pydantic's lax mode would
# turn "40" into 40.0 and 1.7e9 into a date).
@with_config(ConfigDict(extra="forbid", strict=True))
class Position(TypedDict, total=False):
    """One AIS position of the vessel; fields other than timestamp, lat and lon may be left out."""
    timestamp: Required[Annotated[datetime, Field(description="ISO 8601; without a zone it is UTC")]]
    lat: Required[Annotated[float, Field(ge=-90, le=90, description="degrees")]]
    lon: Required[Annotated[float, Field(ge=-180, le=180, description="degrees")]]
    # Bounds inside Optional: outside, they would be applied to null as well (a 500).
    sog: Annotated[Optional[Annotated[float, Field(ge=0, le=SOG_NOT_AVAILABLE_KN)]],
                   Field(description="knots (102.3: not available)")]
    cog: Annotated[Optional[Annotated[float, Field(ge=0, le=360)]], Field(description="degrees")]
    heading: Optional[Annotated[float, Field(ge=0, le=511)]]
    nav_status: Annotated[Optional[Annotated[int, Field(ge=0, le=15)]], BeforeValidator(_whole)]
    destination: Optional[Annotated[str, Field(max_length=120)]]
    name: Optional[Annotated[str, Field(max_length=120)]]
    imo: Optional[Annotated[str, Field(max_length=20)]]
    callsign: Optional[Annotated[str, Field(max_length=20)]]
    ship_type: Optional[Annotated[str, Field(max_length=60)]]
    draught: Optional[Annotated[float, Field(ge=0, le=30)]]


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"example": {
        "mmsi": 273123456, "positions": [
            {"timestamp": "2024-03-01T05:00:00Z", "lat": 41.2, "lon": 51.3, "sog": 9.5, "cog": 90.0},
            {"timestamp": "2024-03-01T06:00:00Z", "lat": 41.2, "lon": 51.5, "sog": 9.5, "cog": 90.0}]}})
    mmsi: WholeNumber = Field(ge=200_000_000, le=799_999_999, description="a ship-station MMSI")
    positions: list[Position] = Field(min_length=1, max_length=MAX_POSITIONS)


#: Columns of a feature row the model reads besides its features: where the longest gap
#: started (its grid features come from the model's own grid), and the row's id.
VoyageRow = create_model(
    "VoyageRow", __config__=ConfigDict(extra="ignore", strict=True),
    voyage_id=(Optional[StrictStr], Field(None, max_length=200, description="echoed back")),
    lg_start_lat=(Optional[StrictFloat], Field(None, description="where the longest gap started, degrees")),
    lg_start_lon=(Optional[StrictFloat], Field(None, description="where the longest gap started, degrees")),
    **{name: (Optional[StrictFloat], Field(..., description="see docs/features.md")) for name in FEATURE_NAMES})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.toordinal()


_US = timedelta(microseconds=1)
_TIME_PARTS = ("hour", "minute", "second", "microsecond")


def datetimes_us(times: list[datetime]) -> np.ndarray:
    """Microseconds since the epoch, UTC, of each time (zone-less is UTC), int64 (n,).

    Built from the parts (day number, hour, minute, second, microsecond) a column at a time,
    and each distinct zone's offset once: subtracting the epoch object by object costs ~0.5 ms
    per 1,000 times, this ~0.15 ms.

    >>> from datetime import timezone
    >>> datetimes_us([datetime(1970, 1, 2, tzinfo=UTC), datetime(1970, 1, 1, 3, tzinfo=timezone(timedelta(hours=3)))]).tolist()
    [86400000000, 0]
    """
    n = len(times)
    days = np.fromiter(map(datetime.toordinal, times), np.int64, n) - _EPOCH_DAY
    # One pass per part: numpy reads a list of tuples far slower (~170 us per 1,000) than four iterators.
    h, m, s, u = (np.fromiter(map(attrgetter(part), times), np.int64, n) for part in _TIME_PARTS)
    us = (((days * 24 + h) * 60 + m) * 60 + s) * 1_000_000 + u
    zones = list(map(attrgetter("tzinfo"), times))
    offset = {z: z.utcoffset(None) for z in set(zones) if z is not None}
    if any(o is None for o in offset.values()):  # a zone whose offset depends on the date
        return np.fromiter((((t if t.tzinfo is not None else t.replace(tzinfo=UTC)) - _EPOCH) // _US for t in times),
                           np.int64, n)
    if any(offset.values()):
        us -= np.fromiter((offset[z] // _US if z is not None else 0 for z in zones), np.int64, n)
    return us


def track_frame(mmsi: int, positions: list[Position]) -> pd.DataFrame:
    """One request's positions as the canonical frame: columns straight from the attributes
    (``model_dump()`` per position costs ~5 us each), optional columns only when some position
    has them, times as UTC microseconds (a zone-less time is UTC) without ``pd.to_datetime``'s
    per-object parse (~1 ms per 1,000 positions), and ``_file``/``_line`` as a reader gives them
    (file ``request``, line = position number from 1)."""
    cols = {"mmsi": np.full(len(positions), mmsi, dtype=np.int64)}
    us = datetimes_us(list(map(itemgetter("timestamp"), positions)))
    cols["timestamp"] = utc_times(us)
    given = set(chain.from_iterable(positions))  # every field some position has
    for f in Position.__annotations__:
        if f == "timestamp" or (f not in REQUIRED_FIELDS and f not in given):
            continue
        v = list(map(itemgetter(f), positions)) if f in REQUIRED_FIELDS else [p.get(f) for p in positions]
        if f in REQUIRED_FIELDS or any(x is not None for x in v):
            cols[f] = _column(f, v)
    # The columns a reader adds, so that scoring need not copy the frame to add them.
    cols[LINE_COL] = np.arange(1, len(positions) + 1)
    cols[FILE_COL] = file_col("request", len(positions))
    return frame_of(cols)


def _column(field: str, values: list):
    """One field's values as the column ``pd.DataFrame`` would infer, built directly: pandas'
    inference over a list of Python objects costs more than the rest of :func:`track_frame`.
    Numbers are float64 with None as NaN; whole numbers int64 unless one is None; text ``str``."""
    if field in _FLOATS:
        return np.array(values, dtype=float)
    if field == "nav_status":
        return np.array(values, dtype=float if None in values else np.int64)
    return str_array(np.array(values, dtype=object))


#: The request fields that are floats (``nav_status`` is an integer, the rest text).
_FLOATS = frozenset(("lat", "lon", *S.NUMERIC_OPTIONAL))
