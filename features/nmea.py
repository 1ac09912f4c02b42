"""Raw NMEA 0183 AIS (``!AIVDM``/``!AIVDO``, any talker) as receivers and providers write it,
decoded with pyais.

What a row is: one AIS message. A single-sentence message is one row at its sentence's line;
a multi-part message is one row at its first part's line. Lines that only carry metadata for
the next sentence are not rows: ``$PGHP`` time lines and tag blocks on a line of their own
(``\\si:AISD*3F\\``, the Danish Maritime Authority's stream). A tag block that no sentence
follows (before the next tag-block line or the end of the file) is one unparseable row.

Accepted layouts, all in one stream:

- one sentence per line, optionally after a tag block (``\\s:src,c:1709251200*hh\\!AIVDM...``);
- a tag block on its own line, its fields applying to the next sentence (merged with any
  tag block that sentence carries itself, which wins);
- several sentences on one line, each with its own tag block (Spire: both parts of a
  multi-part message on one line);
- multi-part messages tied by their sequence id and channel, or, when the sequence id is
  empty, by the tag block's ``g:<part>-<total>-<group id>``;
- a Unix time after the checksum (USCG NAIS: ``!AIVDM,...*hh,rXXXX,1234567890``).

Time of a message, first found: the tag block's ``c:`` (seconds, or milliseconds above
1e11), the Unix time after the checksum, the ``$PGHP`` line before it. Tag-block checksums
are not enforced (providers write ``*00``); sentence checksums are. Messages that are not
about a vessel (base stations, aids to navigation, binary messages) are rows rejected as
"not a vessel report".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyais.exceptions import AISBaseException, UnknownMessageException
from pyais.messages import AISSentence, GatehouseSentence, NMEASentenceFactory
from pyais.util import checksum

from .schema import DETAIL_COL, FILE_COL, LINE_COL, MS_THRESHOLD, NOT_VESSEL, REASON_COL
from .sources import ReadResult, file_col, numbered_lines, unparseable_frame

#: Position reports (Class A 1-3, Class B 18/19, long range 27) and static reports (5, 24).
VESSEL_TYPES = {1, 2, 3, 5, 18, 19, 24, 27}
#: Longest line read as NMEA: a line carrying a tag block and a three-part message is
#: < 1 KB; anything near this is not NMEA and becomes one unparseable row.
MAX_LINE_CHARS = 64 * 1024
#: Tag-block fields naming the source, in order of preference: the Danish Maritime
#: Authority's source id (network), then the standard source station.
SOURCE_KEYS = ("si", "s")

_FIELDS = {"mmsi": "mmsi", "lat": "lat", "lon": "lon", "speed": "sog", "course": "cog",
           "heading": "heading", "status": "nav_status", "shipname": "name",
           "callsign": "callsign", "imo": "imo", "ship_type": "ship_type",
           "destination": "destination", "draught": "draught"}

#: A line's pieces: a tag block ``\...\`` (closing backslash optional at the end of a line),
#: a sentence ``!...``/``$...`` (AIS armouring never uses ``\ ! $``), or anything else.
_TOKEN = re.compile(r"\\(?P<tag>[^\\]*)(?:\\|$)|(?P<sentence>[!$][^\\!$]*)|(?P<junk>[^\\!$]+)")
#: A sentence up to its checksum, and what follows it (NAIS: ``,rXXXX,1234567890``).
_SENTENCE = re.compile(r"^(?P<body>[!$][^*]*\*[0-9A-Fa-f]{2})(?P<tail>.*)$")
_TAIL_TIME = re.compile(r",\s*(?P<t>\d{9,13})\s*$")
#: Any NMEA sentence: ``$PSTT,...*hh``, its checksummed data and its tag.
_OTHER = re.compile(r"^[!$](?P<data>(?P<tag>[A-Z0-9]{3,6}),[^*]*)\*(?P<chk>[0-9A-Fa-f]{2})$")
_GROUP = re.compile(r"^(?P<part>\d+)-(?P<total>\d+)-(?P<id>.+)$")


def parse_tag_block(text: str) -> dict[str, str]:
    """``s:rORBCOMM000,c:1411928783*57`` -> ``{"s": "rORBCOMM000", "c": "1411928783"}``."""
    body = text.rsplit("*", 1)[0] if "*" in text else text
    pairs = (p.split(":", 1) for p in body.split(",") if ":" in p)
    return {k.strip(): v.strip() for k, v in pairs}


def epoch_seconds(value: str | None) -> float | None:
    """A ``c:`` or NAIS time: Unix seconds, or milliseconds above :data:`features.schema.MS_THRESHOLD`."""
    try:
        sec = float(value) if value else np.nan
    except ValueError:
        return None
    if not np.isfinite(sec):
        return None
    return sec / 1000.0 if sec > MS_THRESHOLD else sec


def split_sentence(token: str) -> tuple[str, float | None]:
    """A sentence token -> (sentence up to its checksum, Unix time after the checksum)."""
    m = _SENTENCE.match(token.strip())
    if not m:
        return token.strip(), None
    t = _TAIL_TIME.search(m["tail"])
    return m["body"], epoch_seconds(t["t"]) if t else None


@dataclass
class _Tag:
    """A tag block waiting for its sentence: its fields, raw text and line."""

    fields: dict[str, str]
    raw: str
    line: int


@dataclass
class _Group:
    """An open multi-part message."""

    line: int
    parts: list
    time: float | None
    source: str | None


@dataclass
class _Stream:
    """State of one NMEA file: rows decoded so far and what the next sentence inherits."""

    rows: list[dict] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    bad_raw: list[str] = field(default_factory=list)
    bad_detail: list[str] = field(default_factory=list)
    pending: dict[tuple, _Group] = field(default_factory=dict)
    tag: _Tag | None = None          # from a tag-block line, for the next sentence
    pghp_time: float | None = None   # from a $PGHP line, for the next sentence

    def bad(self, line: int, raw: str, why: str) -> None:
        self.bad_lines.append(line)
        self.bad_raw.append(raw[:2000])
        self.bad_detail.append(why)

    def line(self, i: int, text: str) -> None:
        """One physical line: tag blocks, sentences, or junk."""
        if len(text) > MAX_LINE_CHARS:
            self.bad(i, text, f"line longer than {MAX_LINE_CHARS:,} characters")
            return
        tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(text)]
        tokens = [(k, v) for k, v in tokens if k != "junk" or v.strip()]
        if not tokens:
            return
        if not any(k == "sentence" for k, _ in tokens):
            if any(k == "junk" for k, _ in tokens):
                self.bad(i, text, "not an NMEA AIS sentence")
            else:  # tag blocks only: they belong to the next sentence
                self.dangling()
                self.tag = _Tag(_merged(tokens), text, i)
            return
        inline: dict[str, str] = {}
        for kind, value in tokens:
            if kind == "tag":
                inline.update(parse_tag_block(value))
            elif kind == "sentence":
                self.sentence(i, value, inline)
                inline = {}
        if inline:  # a tag block after the line's last sentence waits for the next one
            self.dangling()
            self.tag = _Tag(inline, text, i)

    def dangling(self) -> None:
        """The waiting tag block has no sentence: one unparseable row."""
        if self.tag is not None:
            self.bad(self.tag.line, self.tag.raw, "tag block without a sentence")
            self.tag = None

    def sentence(self, i: int, token: str, inline: dict[str, str]) -> None:
        body, tail_time = split_sentence(token)
        try:
            sentence = NMEASentenceFactory.produce(body.encode("ascii", "replace"))
        except UnknownMessageException:
            self.tag = None  # it was this sentence's tag block
            self.other_sentence(i, body)
            return
        except (AISBaseException, ValueError, IndexError, TypeError) as err:
            self.tag = None
            self.bad(i, token, f"not an NMEA AIS sentence: {type(err).__name__}")
            return
        if isinstance(sentence, GatehouseSentence):
            self.pghp_time = sentence.timestamp.replace(tzinfo=dt.UTC).timestamp()
            return
        tags = {**(self.tag.fields if self.tag else {}), **inline}
        self.tag = None
        time = epoch_seconds(tags.get("c"))
        time = next((t for t in (time, tail_time, self.pghp_time) if t is not None), None)
        source = next((tags[k] for k in SOURCE_KEYS if tags.get(k)), None)
        if sentence.frag_cnt == 1:
            self.pghp_time = None
            self.emit(_Group(i, [sentence], time, source))
            return
        self.fragment(i, token, sentence, tags, _Group(i, [sentence], time, source))

    def other_sentence(self, i: int, body: str) -> None:
        """A well-formed NMEA sentence that is not AIS (a base station's ``$PSTT`` status):
        a row that is not a vessel report; anything else is unparseable."""
        m = _OTHER.match(body)
        if m and int(m["chk"], 16) == checksum(m["data"].encode("ascii", "replace")):
            self.rows.append({LINE_COL: i, REASON_COL: NOT_VESSEL,
                              DETAIL_COL: f"NMEA sentence {m['tag']} (not AIS)"})
        else:
            self.bad(i, body, "not an NMEA AIS sentence")

    def fragment(self, i: int, token: str, sentence, tags: dict, group: _Group) -> None:
        """One part of a multi-part message: open, extend or complete its group."""
        m = _GROUP.match(tags.get("g", ""))
        if sentence.seq_id is not None or not m:
            key = (sentence.seq_id, sentence.channel, sentence.frag_cnt)
        else:
            key = ("g", m["id"], sentence.frag_cnt)
        if sentence.frag_num == 1:
            if key in self.pending:  # the previous group with this key never completed
                self.incomplete(self.pending.pop(key))
            self.pending[key] = group
            self.pghp_time = None
            return
        if key not in self.pending:
            self.bad(i, token, "fragment without its first part")
            return
        open_ = self.pending[key]
        open_.parts.append(sentence)
        if len(open_.parts) == sentence.frag_cnt:
            del self.pending[key]
            self.emit(open_)

    def incomplete(self, group: _Group) -> None:
        self.bad(group.line, _raw(group.parts), "incomplete multi-part message")

    def emit(self, group: _Group) -> None:
        """A complete message -> one row (or one unparseable row)."""
        parts = group.parts
        try:
            msg = AISSentence.assemble_from_iterable(parts) if len(parts) > 1 else parts[0]
            if not msg.is_valid:
                self.bad(group.line, _raw(parts), "checksum mismatch")
                return
            decoded = msg.decode().asdict(enum_as_int=True)
        except (AISBaseException, ValueError, IndexError, KeyError, TypeError) as err:
            self.bad(group.line, _raw(parts), f"does not decode: {type(err).__name__} {str(err)[:120]}")
            return
        self.rows.append(_row(decoded, group, msg))

    def finish(self) -> None:
        self.dangling()
        for group in self.pending.values():
            self.incomplete(group)
        self.pending.clear()


def _merged(tokens: list[tuple[str, str]]) -> dict[str, str]:
    """The fields of a line's tag blocks, later ones winning."""
    out: dict[str, str] = {}
    for kind, value in tokens:
        if kind == "tag":
            out.update(parse_tag_block(value))
    return out


def _raw(parts: list) -> str:
    return "\n".join(p.raw.decode("ascii", "replace") for p in parts)


def _row(decoded: dict, group: _Group, msg) -> dict:
    row = {dst: decoded.get(src) for src, dst in _FIELDS.items() if decoded.get(src) is not None}
    row["msg_type"] = decoded.get("msg_type")
    row["timestamp"] = group.time
    row["talker"] = msg.talker.value if hasattr(msg.talker, "value") else str(msg.talker)
    if group.source is not None:
        row["source"] = group.source
    row[LINE_COL] = group.line
    for k in ("name", "callsign", "destination"):
        if isinstance(row.get(k), str):
            row[k] = row[k].strip("@ ").strip() or None
    if row.get("imo") == 0:
        row["imo"] = None
    if row["msg_type"] not in VESSEL_TYPES:
        row[REASON_COL] = NOT_VESSEL
        row[DETAIL_COL] = f"AIS message type {row['msg_type']}"
    return row


def _frame(rows: list[dict], path: Path) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in ("mmsi", "timestamp", "lat", "lon")})
    for c in ("mmsi", "timestamp", "lat", "lon"):
        if c not in frame.columns:
            frame[c] = np.nan
    if LINE_COL not in frame.columns:
        frame[LINE_COL] = pd.Series(dtype="int64")
    # Unix seconds -> UTC microseconds, vectorised; any year fits, so validation can say
    # "timestamp out of range" for 1970 or 9999 instead of losing the time.
    sec = pd.to_numeric(frame["timestamp"], errors="coerce").to_numpy("float64", na_value=np.nan)
    us = np.where(np.abs(sec) < 1e13, sec * 1e6, np.nan)
    stamps = np.full(len(us), np.datetime64("NaT"), "datetime64[us]")
    ok = np.isfinite(us)
    stamps[ok] = us[ok].astype(np.int64).astype("datetime64[us]")
    frame["timestamp"] = pd.Series(stamps, index=frame.index).dt.tz_localize("UTC")
    frame[FILE_COL] = file_col(path, len(frame))
    return frame


def read_nmea(path: Path) -> ReadResult:
    """Decode one NMEA file; every message is a row, accepted or unparseable with its reason."""
    stream = _Stream()
    re_decoded = 0
    for i, raw in numbered_lines(path, "NMEA"):
        if raw.isascii():
            text = raw.decode("ascii")
        else:  # NMEA is ASCII: a stray byte makes its sentence fail its checksum
            text = raw.decode("latin-1")
            re_decoded += 1
        stream.line(i, text.strip())
    stream.finish()
    return ReadResult(_frame(stream.rows, path),
                      unparseable_frame(str(path), stream.bad_lines, stream.bad_raw, stream.bad_detail),
                      re_decoded)
