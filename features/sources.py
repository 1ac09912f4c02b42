"""Raw input plumbing the readers share: opening (gzip or not), decoding text that is not
UTF-8, telling text from binary, and the :class:`ReadResult` every reader returns.

The NMEA reader and the tabular readers both import from here, so neither imports the other
(``readers`` -> ``nmea`` -> ``sources``).
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .schema import DETAIL_COL, FILE_COL, LINE_COL, REASON_COL, UNPARSEABLE

#: Bytes read to sniff a file's kind, delimiter and decimal mark: enough for a header and
#: a few dozen rows of any export we know, small enough to cost nothing.
HEAD_BYTES = 64 * 1024
#: Chunk size of the UTF-8 check: bounded memory on files of any size.
CHUNK_BYTES = 16 * 1024 * 1024
#: A head that is not UTF-8 and has more than this share of control bytes (other than tab,
#: CR, LF) is binary: random bytes have ~11 %, cp1252/Latin-1 text none.
BINARY_SHARE = 0.05
#: Error handler name: undecodable UTF-8 bytes become their cp1252 (else Latin-1) character.
REDECODE = "darkvoyage-cp1252"

_CONTROL = np.zeros(256, bool)
_CONTROL[[*range(0, 9), 11, 12, *range(14, 32), 127]] = True


def _cp1252_or_latin1(byte: int) -> str:
    """One byte as cp1252 (what Windows exports write), Latin-1 where cp1252 has no character."""
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


#: Each byte as cp1252 (Latin-1 where cp1252 has no character), looked up instead of decoded.
_BYTE_CHAR = [_cp1252_or_latin1(b) for b in range(256)]
#: Surrogate-escaped bytes (``\\udc80``-``\\udcff``) -> their cp1252 character, for str.translate.
_UNESCAPE = {0xDC00 + b: _BYTE_CHAR[b] for b in range(0x80, 0x100)}
_ESCAPED_LINE = re.compile("^[^\n\udc80-\udcff]*[\udc80-\udcff]", re.M)


def _redecode_error(err: UnicodeDecodeError) -> tuple[str, int]:
    bad = err.object[err.start:err.end]
    return "".join(_BYTE_CHAR[b] for b in bad), err.end


codecs.register_error(REDECODE, _redecode_error)


def redecode(data: bytes) -> tuple[str, int]:
    """Bytes -> text: UTF-8 where valid, cp1252/Latin-1 for the bytes that are not.

    Returns the text and the number of lines that needed the fallback (the "re-decoded"
    figure of the summary). One C-level decode and one regex scan, no per-line Python.
    """
    text = data.decode("utf-8", "surrogateescape")
    n = sum(1 for _ in _ESCAPED_LINE.finditer(text))
    return (text.translate(_UNESCAPE) if n else text), n


def decode_line(raw: bytes) -> tuple[str, bool]:
    """One line -> (text, re-decoded?)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", REDECODE), True


def is_gzip(path: Path) -> bool:
    """gzip by content (magic bytes), not by name."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed when it is gzip."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def open_text(path: Path) -> io.TextIOBase:
    """Text lines of a file (gzip or not): UTF-8, undecodable bytes as cp1252/Latin-1.

    Use it as a context manager: files are closed deterministically, so an error half-way
    leaves no "Exception ignored" noise from a file closed by the garbage collector.
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors=REDECODE)
    return path.open("r", encoding="utf-8", errors=REDECODE)


@dataclass(frozen=True)
class TextScan:
    """What one pass over a text file found: its head (decoded) and whether all is UTF-8."""

    head: str
    utf8: bool
    encoding: str = "utf-8"


def _gzip_error(path: Path, err: Exception) -> InputError:
    return InputError(f"{path}: truncated or corrupt gzip data ({one_line(err)})")


def _check_binary(path: Path, head: bytes, kind: str) -> None:
    """Not UTF-8 and full of control bytes: binary data, not text in another encoding
    (cp1252/Latin-1 text has none; valid UTF-8 with a few NUL bytes is text and is read)."""
    control = _CONTROL[np.frombuffer(head, np.uint8)].mean()
    if control > BINARY_SHARE:
        raise InputError(f"{path}: binary data, not {kind} text "
                         f"({control:.0%} control bytes in the first {len(head):,} bytes)")


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _utf16(path: Path, head: bytes, kind: str, fh) -> TextScan:
    """UTF-16 with a byte-order mark (Excel's "Unicode text" export, tab-separated): a CSV is
    decoded as declared (in memory); other formats are line-oriented bytes and refused."""
    if kind != "CSV":
        raise InputError(f"{path}: UTF-16 text; save it as UTF-8")
    while fh.read(CHUNK_BYTES):  # a truncated gzip must fail here, as for UTF-8
        pass
    return TextScan(head.decode("utf-16", "replace"), False, "utf-16")


def scan_text(path: Path, kind: str) -> TextScan:
    """Check a text input once, in bounded memory: empty, binary, truncated gzip, UTF-8.

    ``kind`` names the expected format in the error ("CSV", "NDJSON", "NMEA").
    """
    with _readable(path):
        with open_binary(path) as fh:
            head = fh.read(HEAD_BYTES)
            if _check_head(path, head, kind):
                return _utf16(path, head, kind, fh)
            dec = codecs.getincrementaldecoder("utf-8")()
            utf8 = True
            try:
                try:
                    dec.decode(head)
                except UnicodeDecodeError:
                    _check_binary(path, head, kind)
                    raise
                for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
                    if dec.getstate()[0] or not chunk.isascii():
                        dec.decode(chunk)
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
                while fh.read(CHUNK_BYTES):  # still read to the end: a truncated gzip must fail here
                    pass
    return TextScan(head.decode("utf-8", REDECODE), utf8)


def numbered_lines(path: Path, kind: str) -> Iterator[tuple[int, bytes]]:
    """The lines of a line-oriented input (NDJSON, NMEA) as bytes, numbered from 1, in one
    pass: its head is checked as :func:`scan_text` checks it (empty, binary, UTF-16), and a
    truncated gzip or an unreadable file is the same one-line error, met where it happens."""
    with _readable(path):
        with open_binary(path) as fh:
            head = fh.read(HEAD_BYTES)
            if _check_head(path, head, kind):
                _utf16(path, head, kind, fh)
            try:
                codecs.getincrementaldecoder("utf-8")().decode(head)
            except UnicodeDecodeError:
                _check_binary(path, head, kind)
        with open_binary(path) as fh:  # from the start again: only the head was read
            yield from enumerate(fh, start=1)


def _check_head(path: Path, head: bytes, kind: str) -> bool:
    """An empty input is refused; True when it is UTF-16 with a byte-order mark."""
    if not head.strip():
        raise InputError(f"{path}: empty file (no {kind} rows)")
    return head.startswith(_UTF16_BOMS)


@contextmanager
def _readable(path: Path):
    """A truncated gzip or an unreadable file, wherever it is met, as one line."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _gzip_error(path, err) from None
    except OSError as err:
        raise InputError(f"{path}: not a readable file ({one_line(err)})") from None


def read_all_text(path: Path, encoding: str = "utf-8") -> tuple[str, int]:
    """The whole (decompressed) file as text and its count of re-decoded lines (UTF-16 with
    a byte-order mark is decoded as declared: no line is re-decoded)."""
    try:
        with open_binary(path) as fh:
            if encoding == "utf-16":
                return fh.read().decode("utf-16", "replace"), 0
            return redecode(fh.read())
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _gzip_error(path, err) from None


_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]")


def one_line(err: object, limit: int = 160) -> str:
    """An error's message as one short printable line: input bytes quoted in a library's
    message must not spill control characters or newlines onto the user's terminal."""
    text = str(err).replace("\r", " ").replace("\n", " ")
    text = _UNPRINTABLE.sub("?", text).replace("\ufffd", "?")
    return text if len(text) <= limit else text[:limit] + " ..."


# ----------------------------------------------------------------------------- ReadResult

@dataclass
class ReadResult:
    """Rows read from the inputs.

    ``frame``: one row per parsed input row, canonical columns where present, extra columns
    as they came, plus ``_file`` and ``_line``. ``unparseable``: rows that could not be split
    into fields (``_file``, ``_line``, ``raw``, ``_reason``, ``_detail``). ``re_decoded``:
    rows whose text was not UTF-8 and was decoded as cp1252/Latin-1 (they are still rows,
    counted in ``frame`` or ``unparseable`` as any other).
    """

    frame: pd.DataFrame
    unparseable: pd.DataFrame
    re_decoded: int = 0

    @property
    def n_read(self) -> int:
        return len(self.frame) + len(self.unparseable)


def unparseable_frame(file: str, lines: list[int], raws: list[str], details: list[str]) -> pd.DataFrame:
    """Rows that could not be split into fields, with their raw text and why."""
    return pd.DataFrame({FILE_COL: file, LINE_COL: pd.array(lines, dtype="int64"),
                         "raw": pd.array(raws, dtype="str"), REASON_COL: UNPARSEABLE,
                         DETAIL_COL: pd.array(details, dtype="str")})


def file_col(path: Path | str, n: int) -> pd.Categorical:
    """The source file of every row, as a category (millions of rows, one string)."""
    return pd.Categorical.from_codes(np.zeros(n, np.int8), dtype=_file_dtype(str(path)))


@functools.lru_cache(maxsize=256)
def _file_dtype(name: str) -> pd.CategoricalDtype:
    # Checking the categories costs ~0.1 ms a call; each REST request makes one.
    return pd.CategoricalDtype([name])
