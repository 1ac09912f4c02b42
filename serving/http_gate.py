"""The gate in front of the REST routes (ASGI middleware): the API key, ``GET /model``, the
OpenAPI document with the error answers, and for the scoring routes the content type, a body
read with a byte count (chunked or not), gzip inflated with a cap, a multipart upload checked,
and every 4xx shaped ``{error, field, problem}``. Hostile input never reaches BentoML's parsers
unchecked."""

from __future__ import annotations

import hmac
import json
import logging
import re
import zlib
from datetime import datetime
from pathlib import Path

import anyio
import numpy as np
import pandas as pd

from features.settings import settings
from serving.openapi import document
from serving.request_models import MAX_POSITIONS, MAX_VOYAGES

log = logging.getLogger("darkvoyage.service")

#: Largest request body, counted on the bytes read (chunked too) and again after gzip
#: inflation (``DARKVOYAGE_MAX_UPLOAD_MB``, default 100): an uploaded positions file for
#: /watchlist is the largest legitimate body.
MAX_BODY_MB = settings().max_upload_mb

#: Parquet holds 3-10x its size in decoded values on AIS data: an upload decoding to more than
#: this many times the byte limit (1 GB at the default) is refused as a decompression bomb.
PARQUET_EXPANSION = 10

PROTECTED = ("/score", "/score_voyages", "/watchlist", "/model")

#: The routes whose body the gate reads, and the one media type each takes.
MEDIA_TYPES = {"/score": "application/json", "/score_voyages": "application/json",
               "/watchlist": "multipart/form-data"}

MODEL_INFO: dict = {}


class _ClientErrorsAreNotServerErrors(logging.Filter):
    """BentoML logs a full traceback for every request it rejects (bad JSON, a failed field
    check). Those are the client's 4xx, already in the access log: one line per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Exception on "):
            from bentoml.exceptions import BentoMLException
            from pydantic import ValidationError
            err = record.exc_info[1]
            if isinstance(err, ValidationError):
                return False
            if isinstance(err, BentoMLException) and 400 <= int(err.error_code) < 500:
                return False
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_ClientErrorsAreNotServerErrors())


def jsonable(v):
    if v is pd.NaT:  # a datetime to isinstance, but no time: null
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if v is None or (not isinstance(v, (list, dict, str)) and pd.isna(v)):
        return None
    return v


class Refused(Exception):
    """A request the gate answers itself: status and the ``{error, field, problem}`` body."""

    def __init__(self, status: int, error: str, field: str, problem: str):
        super().__init__(problem)
        self.status, self.body = status, {"error": error, "field": field, "problem": problem}


def limit_bytes() -> int:
    return int(MAX_BODY_MB * 1e6)


#: A multipart boundary as RFC 2046 allows it: 1-70 characters, no trailing space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = value.partition(";")
    params = {}
    for p in rest.split(";"):
        k, eq, v = p.strip().partition("=")
        if eq:
            params[k.strip().lower()] = v.strip().strip('"')
    return kind.strip().lower(), params


def check_content_type(path: str, value: str | None) -> None:
    """Refuse a body the route does not take, before any parser sees it (a multipart body
    without a boundary used to be a 500)."""
    want = MEDIA_TYPES[path]
    if not value:
        raise Refused(415, "unsupported media type", "content-type", f"missing; send {want}")
    kind, params = _media_type(value)
    if kind != want:
        raise Refused(415, "unsupported media type", "content-type", f"{kind or value!r} is not accepted; send {want}")
    if want == "multipart/form-data" and not _BOUNDARY.fullmatch(params.get("boundary", "")):
        raise Refused(400, "bad request", "content-type", "multipart/form-data without a valid boundary parameter")
    charset = params.get("charset", "utf-8").lower()
    if want == "application/json" and charset not in ("utf-8", "utf8"):
        raise Refused(415, "unsupported media type", "content-type", f"charset {charset!r}: JSON bodies are UTF-8")


def inflate(body: bytes, limit: int) -> bytes:
    """A gzip (or zlib) body inflated in bounded steps: more than ``limit`` bytes out is a 413
    (a gzip bomb is refused after reading at most ``limit`` bytes of output)."""
    d = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    out, n, data = [], 0, body
    try:
        while data:
            chunk = d.decompress(data, 1 << 20)
            n += len(chunk)
            if n > limit:
                raise Refused(413, "request too large", "body", f"over the {limit / 1e6:g} MB limit once "
                              "decompressed (DARKVOYAGE_MAX_UPLOAD_MB)")
            out.append(chunk)
            data = d.unconsumed_tail
            if d.eof:
                break
    except zlib.error as err:
        raise Refused(400, "bad request", "content-encoding", f"not valid gzip ({err})") from None
    if not d.eof:
        raise Refused(400, "bad request", "content-encoding", "gzip body is truncated")
    return b"".join(out)


def _field(loc) -> str:
    out = ""
    for part in loc or ():
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


#: BentoML's 503 (a request waited ``max_latency_ms`` in a batch queue, or not ready): busy, no fault.
BUSY = {"error": "busy", "field": "", "problem": "more requests queued than the server starts in time; retry soon"}


def shape_error(status: int, raw: bytes) -> tuple[int, dict]:
    """Any 4xx body (BentoML's, pydantic's, ours) as ``{error, field, problem}``; a list
    too long for its limit becomes a 422 naming the limit; a 503 says the server is busy."""
    if status == 503:
        return status, BUSY
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace").strip()
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].startswith("{"):
        try:
            inner = json.loads(body["error"])
            body = inner if isinstance(inner, dict) else body
        except ValueError:
            pass
    if isinstance(body, dict) and {"error", "field", "problem"} <= set(body):
        return status, {k: body[k] for k in ("error", "field", "problem")}
    if isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"]:
        errs = [e for e in body["detail"] if isinstance(e, dict)]
        for e in errs:
            loc = tuple(e.get("loc") or ())
            if e.get("type") == "too_long" and loc in (("positions",), ("voyages",)):
                limit = ("positions per track (MAX_POSITIONS)", MAX_POSITIONS) if loc == ("positions",) else \
                        ("voyages per request (MAX_VOYAGES)", MAX_VOYAGES)
                return 422, {"error": "limit exceeded", "field": loc[0],
                             "problem": f"more than {limit[1]:,} {limit[0]}"}
        first = errs[0] if errs else {}
        problem = str(first.get("msg", "invalid"))
        if len(errs) > 1:
            problem += f" (and {len(errs) - 1} more: " + ", ".join(_field(e.get("loc")) for e in errs[1:6]) + \
                       (", ..." if len(errs) > 6 else "") + ")"
        return status, {"error": "bad request", "field": _field(first.get("loc")), "problem": problem}
    text = body.get("error") if isinstance(body, dict) else body
    field = {404: "path", 405: "method", 401: "x-api-key", 413: "body", 415: "content-type"}.get(status, "body")
    return status, {"error": "bad request" if status == 400 else "refused", "field": field,
                    "problem": str(text or "refused")[:500]}


class _ShapeErrors:
    """``send`` wrapper: passes 2xx-3xx and 5xx but 503 through untouched, buffers a 4xx or a
    503 and sends it reshaped by :func:`shape_error` (a 503 with ``Retry-After: 1``)."""

    def __init__(self, send):
        self.send, self.start, self.parts, self.started = send, None, [], False

    async def __call__(self, msg):
        if msg["type"] == "http.response.start" and (400 <= msg["status"] < 500 or msg["status"] == 503):
            self.start = msg
            return
        if msg["type"] == "http.response.body" and self.start is not None:
            self.parts.append(msg.get("body", b""))
            if msg.get("more_body", False):
                return
            status, body = shape_error(self.start["status"], b"".join(self.parts))
            keep = [(k, v) for k, v in self.start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
            if status == 503:
                keep.append((b"retry-after", b"1"))
            self.start, self.started = None, True
            return await send_json(self.send, status, body, keep)
        self.started = self.started or msg["type"] == "http.response.start"
        return await self.send(msg)


class Gate:
    """ASGI middleware in front of every route: the API key, GET /model, the OpenAPI document
    with our error answers, and for the scoring routes the content type, a body read with a
    byte count (chunked or not), gzip inflated with a cap, a multipart upload checked, and
    every 4xx answer shaped ``{error, field, problem}``."""

    def __init__(self, app, **_):
        self.app = app
        self.api_key = settings().api_key  # the server's environment, read once at start-up
        self.desk = None
        if settings().store:  # the analysts' desk: its routes, and analysts' keys open every route
            from serving.desk.api import Desk
            self.desk = Desk.open(settings().store)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        if path == "/docs.json" and method == "GET":
            return await self._docs(scope, receive, send)
        send = _ShapeErrors(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.desk is not None and self.desk.serves(path):
            try:
                return await self.desk(scope, receive, send, headers, self.api_key)
            except Exception:  # noqa: BLE001 - a fault of ours: say so and log it, never leave the caller waiting
                log.exception("internal error on %s %s", method, path)
                if not send.started:  # a 4xx start held back for reshaping never went out: 500 instead
                    await send_json(send.send, 500, {"error": "internal error", "field": "",
                                                     "problem": "the server failed on this request; its log says why"})
                return None
        if path not in PROTECTED:  # health, metrics, unknown paths: BentoML's, 4xx reshaped
            return await self.app(scope, receive, send)
        try:
            key = self.api_key
            if key and not hmac.compare_digest(headers.get("x-api-key", "").encode(), key.encode()) \
                    and not (self.desk is not None and await self.desk.analyst(headers) is not None):
                raise Refused(401, "unauthorized", "x-api-key", "missing or wrong API key")
            if path == "/model":
                if method != "GET":
                    return await send_json(send, 405, {"error": "method not allowed", "field": "method",
                                                   "problem": "use GET"}, [(b"allow", b"GET")])
                return await send_json(send, 200, MODEL_INFO)
            if path in MEDIA_TYPES and method == "POST":
                scope, receive = await self._checked_body(scope, receive, headers, path)
        except Refused as r:
            return await send_json(send, r.status, r.body)
        return await self.app(scope, receive, send)

    async def _checked_body(self, scope, receive, headers: dict, path: str):
        check_content_type(path, headers.get("content-type"))
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", ""):
            raise Refused(415, "unsupported media type", "content-encoding",
                          f"{encoding!r} is not accepted (identity or gzip)")
        size = headers.get("content-length", "")
        limit = limit_bytes()
        if size.isdigit() and int(size) > limit:  # refuse early, before reading anything
            raise Refused(413, "request too large", "body",
                          f"over the {limit / 1e6:g} MB request limit (DARKVOYAGE_MAX_UPLOAD_MB)")
        body = await read_body(receive, limit)
        if encoding in ("gzip", "x-gzip"):  # up to the limit of CPU work: off the event loop
            body = await anyio.to_thread.run_sync(inflate, body, limit)
        raw = [(k, v) for k, v in scope.get("headers", [])
               if k.lower() not in (b"content-length", b"content-encoding", b"transfer-encoding")]
        raw.append((b"content-length", str(len(body)).encode()))
        if path == "/watchlist":
            await check_multipart(raw, body)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return {**scope, "headers": raw}, replay

    async def _docs(self, scope, receive, send):
        """BentoML's OpenAPI document, with the answers the gate gives: 400, 401, 413, 415,
        422 as ``{error, field, problem}``, no 500 (none is expected), and GET /model."""
        parts, start = [], {}

        async def grab(msg):
            if msg["type"] == "http.response.start":
                start.update(msg)
            elif msg["type"] == "http.response.body":
                parts.append(msg.get("body", b""))

        await self.app(scope, receive, grab)
        try:
            doc = json.loads(b"".join(parts))
            if start.get("status") != 200 or "openapi" not in doc:
                raise ValueError(f"BentoML answered {start.get('status')} without a document")
            doc = document(doc)
        except Exception:  # noqa: BLE001 - the document as BentoML wrote it beats none
            log.exception("could not amend the OpenAPI document")
            await send(start)
            return await send({"type": "http.response.body", "body": b"".join(parts)})
        return await send_json(send, 200, doc)


async def send_json(send, status: int, body: dict, headers: list | None = None):
    data = json.dumps(body, default=jsonable).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [*(headers or []), (b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def check_parquet_size(path: Path, limit: int) -> None:
    """A Parquet upload is compressed and encoded (dictionaries, run lengths): a small file
    can decode to gigabytes. Decided from its footer before any page is read: more than
    :data:`PARQUET_EXPANSION` x ``limit`` bytes of decoded values (8 per cell) is a 413."""
    import pyarrow.parquet as pq
    try:
        md = pq.read_metadata(path)
        decoded = max(md.num_rows * md.num_columns * 8,
                      sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups)))
    except Exception:  # noqa: BLE001 - an unreadable footer is the reader's 400 to give
        return
    if decoded > PARQUET_EXPANSION * limit:
        raise as_http_error(Refused(413, "request too large", "body", f"over the {limit / 1e6:g} MB limit once "
                              f"decompressed (DARKVOYAGE_MAX_UPLOAD_MB x {PARQUET_EXPANSION} for Parquet): "
                              f"{md.num_rows:,} rows x {md.num_columns} columns"))


def as_http_error(r: Refused):
    from http import HTTPStatus

    from bentoml.exceptions import BentoMLException
    return BentoMLException(json.dumps(r.body), error_code=HTTPStatus(r.status))


async def read_body(receive, limit: int) -> bytes:
    """Every byte of the request body, counted as it arrives (``Content-Length`` or chunked):
    over ``limit`` is a 413 without reading the rest."""
    parts, n = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise Refused(400, "bad request", "body", "the client went away before the body ended")
        chunk = msg.get("body", b"")
        n += len(chunk)
        if n > limit:
            raise Refused(413, "request too large", "body",
                          f"over the {limit / 1e6:g} MB request limit (DARKVOYAGE_MAX_UPLOAD_MB)")
        parts.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(parts)


async def check_multipart(headers: list, body: bytes) -> None:
    """Parse the upload once here so a malformed one is a 400 naming the problem (BentoML's
    own parse of it answered 500), and so ``file`` is a file: BentoML fetches a ``file`` given
    as text as a URL, which no caller of this service should be able to make it do."""
    from starlette.datastructures import Headers, UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream():
        yield body
        yield b""

    try:
        form = await MultiPartParser(Headers(raw=headers), stream(), max_files=1, max_fields=10).parse()
    except MultiPartException as err:  # "Too many files" names the file field, the rest the body
        raise Refused(400, "bad request", "file" if "files" in err.message.lower() else "body",
                      f"malformed multipart/form-data ({err.message})") from None
    except Exception as err:  # noqa: BLE001 - any parser failure on client bytes is the client's
        raise Refused(400, "bad request", "body", f"malformed multipart/form-data ({type(err).__name__})") from None
    try:
        files = form.getlist("file")
        if len(files) != 1 or not isinstance(files[0], UploadFile):
            raise Refused(400, "bad request", "file", "exactly one file upload (a part with a filename) is required")
        for k in form:
            if k not in ("file", "top", "suffix"):
                raise Refused(400, "bad request", k, "unknown form field (allowed: file, top, suffix)")
            if k != "file" and (len(form.getlist(k)) != 1 or not isinstance(form[k], str)):
                raise Refused(400, "bad request", k, "must be given once, as text")
    finally:
        await form.close()
