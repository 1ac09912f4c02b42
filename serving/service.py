"""The voyage-risk REST service (BentoML, new-style class service).

Routes (contract section 5): ``POST /score``, ``POST /score_voyages`` (adaptive batching),
``POST /watchlist`` (file upload), ``GET /model``; BentoML's ``/readyz``, ``/livez``,
``/metrics`` and the OpenAPI document stay as they are. The model comes from the MLflow
registry: ``DARKVOYAGE_MODEL_URI`` (default ``models:/voyage-risk@champion``) in the store of
``MLFLOW_TRACKING_URI`` (default ``mlruns/``). When ``DARKVOYAGE_API_KEY`` is set, every
scoring route wants it in the ``x-api-key`` header.

Hostile input never reaches BentoML's parsers unchecked: the :class:`Gate` middleware reads
every request body itself (counting bytes, chunked or not), refuses content types the route
does not take, inflates gzip with a cap, checks a multipart upload parses, and reshapes every
4xx into one JSON body ``{error, field, problem}``. Request models use strict types, so a
string where the schema says number is a 400 naming the field, before any batching.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import tempfile
import zlib
from datetime import datetime, timedelta, UTC
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import anyio
import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictStr, create_model

from features.settings import settings
from features.voyage_features import FEATURE_NAMES

log = logging.getLogger("darkvoyage.service")

#: Largest track one /score request may carry: a month of fixes every minute is ~45 k.
MAX_POSITIONS = 50_000
#: Largest request body, counted on the bytes read (chunked too) and again after gzip
#: inflation (``DARKVOYAGE_MAX_UPLOAD_MB``, default 100): an uploaded positions file for
#: /watchlist is the largest legitimate body.
MAX_BODY_MB = settings().max_upload_mb
#: Parquet holds 3-10x its size in decoded values on AIS data: an upload decoding to more than
#: this many times the byte limit (1 GB at the default) is refused as a decompression bomb.
PARQUET_EXPANSION = 10
#: Largest batch /score_voyages takes in one request: also BentoML's batch size, so one
#: request never has to be split across batches.
MAX_VOYAGES = 10_000
REQUIRED_FIELDS = ("timestamp", "lat", "lon")
PROTECTED = ("/score", "/score_voyages", "/watchlist", "/model")
#: The routes whose body the gate reads, and the one media type each takes.
MEDIA_TYPES = {"/score": "application/json", "/score_voyages": "application/json",
               "/watchlist": "multipart/form-data"}
#: Suffixes an upload may name its format by (``suffix`` field or the file's own name);
#: anything else is sniffed from the content.
SUFFIXES = ("", ".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".nmea", ".ais",
            ".csv.gz", ".tsv.gz", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".nmea.gz", ".ais.gz", ".gz")
MODEL_INFO: dict = {}


def _whole(v):
    """JSON Schema's integer is any number without a fraction (``273000001.0`` too); strings and
    booleans stay what they are, for strict validation to refuse."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


#: An integer field: a whole number, never text or a boolean.
WholeNumber = Annotated[int, BeforeValidator(_whole)]


class Position(BaseModel):
    # Strict: a number where the schema says string, or a string where it says number, is a
    # 400 naming the field (pydantic's lax mode would turn "40" into 40.0 and 1.7e9 into a date).
    model_config = ConfigDict(extra="forbid", strict=True)
    timestamp: datetime = Field(description="ISO 8601; without a zone it is UTC")
    lat: float = Field(ge=-90, le=90, description="degrees")
    lon: float = Field(ge=-180, le=180, description="degrees")
    sog: Optional[float] = Field(None, ge=0, le=102.3, description="knots")
    cog: Optional[float] = Field(None, ge=0, le=360, description="degrees")
    heading: Optional[float] = Field(None, ge=0, le=511)
    # (Optional inside the annotation: outside, the schema would lose the bounds it checks.)
    nav_status: Annotated[Optional[int], BeforeValidator(_whole)] = Field(None, ge=0, le=15)
    destination: Optional[str] = Field(None, max_length=120)
    name: Optional[str] = Field(None, max_length=120)
    imo: Optional[str] = Field(None, max_length=20)
    callsign: Optional[str] = Field(None, max_length=20)
    ship_type: Optional[str] = Field(None, max_length=60)
    draught: Optional[float] = Field(None, ge=0, le=30)


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


def _bad(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(json.dumps({"error": "bad request", "field": field, "problem": problem}))


def _jsonable(v):
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


class Refused(Exception):
    """A request the gate answers itself: status and the ``{error, field, problem}`` body."""

    def __init__(self, status: int, error: str, field: str, problem: str):
        super().__init__(problem)
        self.status, self.body = status, {"error": error, "field": field, "problem": problem}


def _limit_bytes() -> int:
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


def _field(loc) -> str:
    out = ""
    for part in loc or ():
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def shape_error(status: int, raw: bytes) -> tuple[int, dict]:
    """Any 4xx body (BentoML's, pydantic's, ours) as ``{error, field, problem}``; a list
    too long for its limit becomes a 422 naming the limit."""
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
    """``send`` wrapper: passes 2xx-3xx and 5xx through untouched, buffers a 4xx and sends it
    reshaped by :func:`shape_error`."""

    def __init__(self, send):
        self.send, self.start, self.parts = send, None, []

    async def __call__(self, msg):
        if msg["type"] == "http.response.start" and 400 <= msg["status"] < 500:
            self.start = msg
            return
        if msg["type"] == "http.response.body" and self.start is not None:
            self.parts.append(msg.get("body", b""))
            if msg.get("more_body", False):
                return
            status, body = shape_error(self.start["status"], b"".join(self.parts))
            keep = [(k, v) for k, v in self.start.get("headers", [])
                    if k.lower() not in (b"content-length", b"content-type")]
            self.start = None
            return await _send(self.send, status, body, keep)
        return await self.send(msg)


class Gate:
    """ASGI middleware in front of every route: the API key, GET /model, the OpenAPI document
    with our error answers, and for the scoring routes the content type, a body read with a
    byte count (chunked or not), gzip inflated with a cap, a multipart upload checked, and
    every 4xx answer shaped ``{error, field, problem}``."""

    def __init__(self, app, **_):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        if path == "/docs.json" and method == "GET":
            return await self._docs(scope, receive, send)
        send = _ShapeErrors(send)
        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if path in PROTECTED:
                key = settings().api_key
                if key and not hmac.compare_digest(headers.get("x-api-key", "").encode(), key.encode()):
                    raise Refused(401, "unauthorized", "x-api-key", "missing or wrong API key")
            if path == "/model":
                if method != "GET":
                    return await _send(send, 405, {"error": "method not allowed", "field": "method",
                                                   "problem": "use GET"}, [(b"allow", b"GET")])
                return await _send(send, 200, MODEL_INFO)
            if path in MEDIA_TYPES and method == "POST":
                scope, receive = await self._checked_body(scope, receive, headers, path)
        except Refused as r:
            return await _send(send, r.status, r.body)
        return await self.app(scope, receive, send)

    async def _checked_body(self, scope, receive, headers: dict, path: str):
        check_content_type(path, headers.get("content-type"))
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", ""):
            raise Refused(415, "unsupported media type", "content-encoding",
                          f"{encoding!r} is not accepted (identity or gzip)")
        size = headers.get("content-length", "")
        limit = _limit_bytes()
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
        return await _send(send, 200, doc)


PROBLEM_SCHEMA = {"type": "object", "required": ["error", "field", "problem"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string", "description": "the field, header or limit at fault"},
    "problem": {"type": "string"}}}


def document(doc: dict) -> dict:
    """Amend BentoML's OpenAPI document with the gate's answers and ``GET /model``."""
    doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    answers = {"400": "Bad request: a field, the JSON or the upload; `field` names it",
               "401": "Missing or wrong `x-api-key` (when DARKVOYAGE_API_KEY is set)",
               "404": "No such route", "405": "Method not allowed",
               "413": "Request body over the byte limit (read or decompressed)",
               "415": "Content type or encoding the route does not take",
               "422": "Over a count limit (positions per track, voyages per request)"}
    for path in ("/score", "/score_voyages", "/watchlist"):
        op = doc.get("paths", {}).get(path, {}).get("post")
        if not op:
            continue
        op.setdefault("requestBody", {})["required"] = True
        responses = op.setdefault("responses", {})
        responses.pop("500", None)
        for code, text in answers.items():
            responses[code] = {"description": text, **ref}
    if settings().api_key:  # say so, and which routes: a fuzzer then checks they refuse requests without it
        doc["components"].setdefault("securitySchemes", {})["apiKey"] = {"type": "apiKey", "in": "header",
                                                                         "name": "x-api-key"}
        for path in ("/score", "/score_voyages", "/watchlist"):
            if "post" in doc.get("paths", {}).get(path, {}):
                doc["paths"][path]["post"]["security"] = [{"apiKey": []}]
    doc.setdefault("paths", {})["/model"] = {"get": {
        "summary": "The served model: name, version, run id, training metrics, feature list",
        "responses": {"200": {"description": "model card", "content": {"application/json": {
            "schema": {"type": "object"}}}}, "401": {"description": answers["401"], **ref}},
        **({"security": [{"apiKey": []}]} if settings().api_key else {})}}
    return doc


async def _send(send, status: int, body: dict, headers: list | None = None):
    data = json.dumps(body, default=_jsonable).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [*(headers or []), (b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def track_frame(mmsi: int, positions: list[Position]) -> pd.DataFrame:
    """One request's positions as the canonical frame: columns straight from the attributes
    (``model_dump()`` per position costs ~5 us each), optional columns only when some position
    has them, times as UTC microseconds (a zone-less time is UTC) without ``pd.to_datetime``'s
    per-object parse (~1 ms per 1,000 positions)."""
    cols = {"mmsi": np.full(len(positions), mmsi, dtype=np.int64)}
    us = np.fromiter((((t if t.tzinfo is not None else t.replace(tzinfo=UTC)) - _EPOCH) // _US
                      for t in (p.timestamp for p in positions)), dtype=np.int64, count=len(positions))
    cols["timestamp"] = pd.DatetimeIndex(us.astype("datetime64[us]")).tz_localize("UTC")
    given = set().union(*(p.model_fields_set for p in positions))
    for f in Position.model_fields:
        if f == "timestamp" or (f not in REQUIRED_FIELDS and f not in given):
            continue
        v = [getattr(p, f) for p in positions]
        if f in REQUIRED_FIELDS or any(x is not None for x in v):
            cols[f] = v
    return pd.DataFrame(cols)


@bentoml.service(name="darkvoyage", workers=1, traffic={"timeout": 300})
class VoyageRisk:
    def __init__(self) -> None:
        from training.registry import load_model
        self.model, info = load_model(settings().model_uri or None)
        MODEL_INFO.clear()
        MODEL_INFO.update(info)
        log.info("serving %s v%s", info["name"], info["version"])
        # Everything loaded so far lives as long as the server: keep it out of the cyclic
        # collector, whose full passes over MLflow, pandas and the model otherwise cost
        # ~200 ms tail latencies.
        import gc
        gc.collect()
        gc.freeze()

    def _voyages_json(self, v: pd.DataFrame) -> list[dict]:
        out = []
        for r in v.itertuples(index=False):
            out.append({"voyage_id": r.voyage_id, "start": _jsonable(r.start), "end": _jsonable(r.end),
                        "origin_port": _jsonable(r.origin_port), "destination_port": _jsonable(r.destination_port),
                        "risk": float(r.risk), "level": r.level, "partial": r.partial,
                        "reasons": [{k: _jsonable(x) for k, x in d.items()} for d in r.reasons]})
        return out

    @bentoml.api(route="/score", input_spec=TrackIn)
    def score(self, mmsi: int, positions: list[Position]) -> dict[str, Any]:
        """One vessel's positions -> per-voyage risk, level and reasons, and the vessel's risk."""
        from serving.scoring import NO_VOYAGE_REASON, score_frame
        try:
            sc = score_frame(track_frame(mmsi, positions), self.model, live_context=False, no_voyage="if none")
        except ValueError as err:
            raise _bad("positions", str(err)) from None
        v = sc.voyages
        if len(v):
            risk, reason = float(v["risk"].max()), None
        else:
            # No voyage is no evidence, not low risk: risk null, level "insufficient data".
            risk = None
            reason = ("; ".join(dict.fromkeys(sc.no_voyage["reasons_text"])) if sc.no_voyage is not None
                      and len(sc.no_voyage) else f"{NO_VOYAGE_REASON}: no position was accepted")
        return {"mmsi": mmsi, "model_version": MODEL_INFO.get("version"), "risk": risk,
                "level": str(self.model.level([np.nan if risk is None else risk])[0]), "reason": reason,
                "rows": sc.tracks.counts.to_dict(), "voyages": self._voyages_json(v)}

    @bentoml.api(route="/score_voyages", batchable=True, max_batch_size=MAX_VOYAGES, max_latency_ms=1000)
    def score_voyages(self, voyages: Annotated[list[VoyageRow], Field(max_length=MAX_VOYAGES)]) -> list[dict[str, Any]]:
        """Feature rows (as ``darkvoyage features`` writes them) -> risk and level per row.
        Each request was validated on its own (strict types), so a batch holds only good rows."""
        n = len(voyages)
        frame = pd.DataFrame({f: np.array([getattr(r, f) for r in voyages], dtype=float) for f in self.model.features
                              if f in VoyageRow.model_fields}, index=pd.RangeIndex(n))
        risk = np.zeros(n)
        # A row that carries where its longest gap started gets its grid features from the
        # model's own grid; a row without keeps the ones it brought (model.matrix).
        has = np.array(["lg_start_lat" in r.model_fields_set or "lg_start_lon" in r.model_fields_set for r in voyages],
                       dtype=bool)
        if has.any():
            g = frame[has].assign(**{c: np.array([getattr(r, c) for r, h in zip(voyages, has) if h], dtype=float)
                                     for c in ("lg_start_lat", "lg_start_lon")})
            risk[has] = self.model.risk(g)
        if (~has).any():
            risk[~has] = self.model.risk(frame[~has])
        level = self.model.level(risk)
        return [{"voyage_id": r.voyage_id, "risk": float(x), "level": str(lv)} for r, x, lv in zip(voyages, risk, level)]

    @bentoml.api(route="/watchlist")
    def watchlist(self, file: Path, top: Annotated[int, Field(ge=1, le=10_000)] = 50,
                  suffix: Literal[SUFFIXES] = "") -> dict[str, Any]:  # type: ignore[valid-type]
        """An uploaded positions file (CSV, Parquet, NDJSON, NMEA) -> the ranked watchlist."""
        from features.errors import DarkvoyageError
        from serving.scoring import score_files, watchlist as ranked
        src = Path(file)
        if not suffix:  # the uploaded name's suffix tells the reader the format, if it is one we know
            own = "".join(Path(str(getattr(file, "name", src.name))).suffixes[-2:]).lower()
            suffix = own if own in SUFFIXES else ""
        with tempfile.TemporaryDirectory() as tmp:
            name = Path(tmp) / ("upload" + suffix)
            data = src.read_bytes()
            if data[:2] == b"\x1f\x8b":  # a gzip file: inflated here, with the same cap as a request body
                try:
                    data = inflate(data, _limit_bytes())
                except Refused as r:
                    raise _status(r) from None
                name = name.with_suffix("") if name.suffix == ".gz" else name
            parquet = data[:4] == b"PAR1"
            name.write_bytes(data)
            del data
            if parquet:  # Parquet pages are compressed too: the same cap on what they hold
                _check_parquet_size(name, _limit_bytes())
            try:
                sc = score_files([name], self.model)
            except (DarkvoyageError, ValueError) as err:
                raise _bad("file", str(err).replace(str(name), "upload")) from None
            except Exception as err:  # noqa: BLE001 - a reader choking on hostile bytes is a bad file, not a 500
                log.warning("upload unreadable: %s: %s", type(err).__name__, err)
                raise _bad("file", f"not a readable positions file ({type(err).__name__})") from None
        wl = ranked(sc.voyages, top, sc.no_voyage)
        rows = [{k: _jsonable(x) for k, x in r.items()} for r in wl.to_dict("records")]
        return {"model_version": MODEL_INFO.get("version"), "rows": sc.tracks.counts.to_dict(), "watchlist": rows}


def _check_parquet_size(path: Path, limit: int) -> None:
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
        raise _status(Refused(413, "request too large", "body", f"over the {limit / 1e6:g} MB limit once "
                              f"decompressed (DARKVOYAGE_MAX_UPLOAD_MB x {PARQUET_EXPANSION} for Parquet): "
                              f"{md.num_rows:,} rows x {md.num_columns} columns"))


def _status(r: Refused):
    from http import HTTPStatus

    from bentoml.exceptions import BentoMLException
    return BentoMLException(json.dumps(r.body), error_code=HTTPStatus(r.status))


VoyageRisk.add_asgi_middleware(Gate)
