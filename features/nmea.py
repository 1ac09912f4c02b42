"""Raw NMEA 0183 AIS (``!AIVDM``/``!AIVDO``, any talker) decoded with pyais.

Time stamps come from ``$PGHP`` (Gatehouse) lines, which precede the sentence they stamp, or
from tag blocks (``\\c:<unix seconds>*hh\\``). Multi-part messages are assembled by sequence id
and channel. A row here is one AIS message: a sentence or group of sentences that does not
decode, or a fragment whose group never completes, is one unparseable row with the reason.
Messages that are not about a vessel (base stations, aids to navigation, binary messages) are
rows rejected as "not a vessel report".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from pyais.exceptions import AISBaseException
from pyais.messages import AISSentence, GatehouseSentence, NMEASentenceFactory

from .readers import InputError, ReadResult, _file_col, open_text, _unparseable
from .schema import DETAIL_COL, FILE_COL, LINE_COL, NOT_VESSEL, REASON_COL

#: Position reports (Class A 1-3, Class B 18/19, long range 27) and static reports (5, 24).
VESSEL_TYPES = {1, 2, 3, 5, 18, 19, 24, 27}

_FIELDS = {"mmsi": "mmsi", "lat": "lat", "lon": "lon", "speed": "sog", "course": "cog",
           "heading": "heading", "status": "nav_status", "shipname": "name",
           "callsign": "callsign", "imo": "imo", "ship_type": "ship_type",
           "destination": "destination", "draught": "draught"}


def _row(decoded: dict, ts, line: int, talker: str) -> dict:
    row = {dst: decoded.get(src) for src, dst in _FIELDS.items() if decoded.get(src) is not None}
    row["msg_type"] = decoded.get("msg_type")
    row["timestamp"] = ts
    row["talker"] = talker
    row[LINE_COL] = line
    for k in ("name", "callsign", "destination"):
        if isinstance(row.get(k), str):
            row[k] = row[k].strip("@ ").strip() or None
    if row.get("imo") == 0:
        row["imo"] = None
    return row


def read_nmea(path: Path) -> ReadResult:
    rows: list[dict] = []
    bad_lines: list[int] = []
    bad_raw: list[str] = []
    bad_detail: list[str] = []
    # Open multi-part groups: key -> (first line, [sentences], time stamp)
    pending: dict[tuple, tuple[int, list, object]] = {}
    pghp_time = None

    def bad(line: int, raw: str, why: str):
        bad_lines.append(line)
        bad_raw.append(raw[:2000])
        bad_detail.append(why)

    def emit(line: int, sentences: list, ts):
        raw = "\n".join(s.raw.decode("ascii", "replace") for s in sentences)
        try:
            msg = AISSentence.assemble_from_iterable(sentences) if len(sentences) > 1 else sentences[0]
            if not msg.is_valid:
                bad(line, raw, "checksum mismatch")
                return
            decoded = msg.decode().asdict(enum_as_int=True)
        except (AISBaseException, ValueError, IndexError, KeyError, TypeError) as err:
            bad(line, raw, f"does not decode: {type(err).__name__} {str(err)[:120]}")
            return
        row = _row(decoded, ts, line, msg.talker.value if hasattr(msg.talker, "value") else str(msg.talker))
        if row["msg_type"] not in VESSEL_TYPES:
            row[REASON_COL] = NOT_VESSEL
            row[DETAIL_COL] = f"AIS message type {row['msg_type']}"
        rows.append(row)

    try:
        fh = open_text(path)
    except OSError as err:
        raise InputError(f"{path}: not a readable file ({err})") from err
    with fh:
        for i, text in enumerate(fh, start=1):
            s = text.strip()
            if not s:
                continue
            try:
                sentence = NMEASentenceFactory.produce(s.encode("ascii", "replace"))
            except (AISBaseException, ValueError, IndexError, TypeError) as err:
                bad(i, s, f"not an NMEA AIS sentence: {type(err).__name__}")
                continue
            if isinstance(sentence, GatehouseSentence):
                pghp_time = sentence.timestamp.replace(tzinfo=dt.UTC)
                continue
            ts = pghp_time
            tb = getattr(sentence, "tag_block", None)
            if tb is not None:
                try:
                    tb.init()
                    if tb.receiver_timestamp:
                        sec = float(tb.receiver_timestamp)
                        if sec > 1e11:  # some feeds write milliseconds
                            sec /= 1000.0
                        ts = dt.datetime.fromtimestamp(sec, tz=dt.UTC)
                except (ValueError, AISBaseException, OverflowError):
                    pass
            if sentence.frag_cnt == 1:
                emit(i, [sentence], ts)
                pghp_time = None
                continue
            key = (sentence.seq_id, sentence.channel, sentence.frag_cnt)
            if sentence.frag_num == 1:
                if key in pending:  # the previous group with this key never completed
                    first, parts, _ = pending.pop(key)
                    bad(first, "\n".join(p.raw.decode("ascii", "replace") for p in parts),
                        "incomplete multi-part message")
                pending[key] = (i, [sentence], ts)
                pghp_time = None
                continue
            if key not in pending:
                bad(i, s, "fragment without its first part")
                continue
            first, parts, ts0 = pending[key]
            parts.append(sentence)
            if len(parts) == sentence.frag_cnt:
                del pending[key]
                emit(first, parts, ts0)
    for first, parts, _ in pending.values():
        bad(first, "\n".join(p.raw.decode("ascii", "replace") for p in parts), "incomplete multi-part message")

    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in ("mmsi", "timestamp", "lat", "lon")})
    for c in ("mmsi", "timestamp", "lat", "lon"):
        if c not in frame.columns:
            frame[c] = np.nan
    if LINE_COL not in frame.columns:
        frame[LINE_COL] = pd.Series(dtype="int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame[FILE_COL] = _file_col(path, len(frame))
    return ReadResult(frame, _unparseable(str(path), bad_lines, bad_raw, bad_detail))
