"""The desk's REST routes (contract section 5, "With a store"), an ASGI app the service's gate
hands these paths to when it has a store (``darkvoyage serve --store URL`` or
``DARKVOYAGE_STORE``):

* ``GET /``: the desk's page (offline: its scripts and map data inline; it calls the routes
  below with the key the analyst types in);
* ``GET /alerts?status=...&since=...``: the alerts, the latest run first, riskiest vessel first (JSON list);
* ``GET /vessels?q=...``: vessels whose MMSI or IMO is ``q`` or whose name contains it;
* ``GET /review``: the vessels to judge next, each with why (:mod:`serving.desk.review`);
* ``GET /vessels/{mmsi}``: a vessel's standing, voyages, events, alerts with their verdicts,
  identity links (404 for a vessel the store does not hold);
* ``POST /verdicts`` ``{alert_id, verdict: suspicious|benign|uncertain, note?}``: with an
  analyst's key in ``X-API-Key`` (401 without a valid one; 404 for an unknown alert); the
  alert's status follows (confirmed, dismissed, in_review). ``{mmsi, verdict, note?}`` instead
  judges a vessel no run alerted on (the review queue lists them): a ``review`` alert carries it.

Every refusal is ``{error, field, problem}`` with a 4xx, as the other routes answer; the store's
work runs in a worker thread, off the server's event loop.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .alerts import packaged_gazetteer, sensitive_ids
from .analysts import analyst_of_key
from .models import ALERT_STATUS
from .queries import NotFound, list_alerts, record_verdict, search, vessel
from .store import Store, StoreBusy

#: A verdict request is small: a note of a few paragraphs at most (bytes).
MAX_VERDICT_BYTES = 65_536
DESK_PATHS = ("/", "/alerts", "/verdicts", "/vessels", "/review")
VESSEL_PREFIX = "/vessels/"


class VerdictIn(BaseModel):
    """On an alert (``alert_id``), or on a vessel no run alerted on (``mmsi``): one of the two."""
    model_config = ConfigDict(extra="forbid", strict=True)
    alert_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    mmsi: Annotated[int, Field(ge=1, le=999_999_999)] | None = None
    verdict: Literal["suspicious", "benign", "uncertain"]
    note: Annotated[str, Field(max_length=4000, pattern=r"^[^\x00]*$")] = ""

    @model_validator(mode="after")
    def _one_target(self):
        if (self.alert_id is None) == (self.mmsi is None):
            raise ValueError("give alert_id (an alert) or mmsi (a vessel without one), not both or neither")
        return self


class Desk:
    """The desk's routes on a store, as the service's gate calls them."""

    def __init__(self, store: Store):
        self.store = store
        self._page: bytes | None = None

    def page(self) -> bytes:
        """The desk's page, built once: the template with the map's water and ports inline."""
        if self._page is None:
            from serving.export import map_base
            from serving.http_gate import MODEL_INFO
            from serving.pages import page
            data = json.dumps(map_base(packaged_gazetteer())).replace("</", "<\\/")
            from training.registry import model_label
            self._page = page("desk.html").render(data=data, model=model_label(MODEL_INFO), store=self.store.url).encode()
        return self._page

    @classmethod
    def open(cls, url: str) -> Desk:
        from .store import open_store
        return cls(open_store(url))

    @staticmethod
    def serves(path: str) -> bool:
        path = path.rstrip("/") or "/"
        return path in DESK_PATHS or path.startswith(VESSEL_PREFIX)

    async def _html(self, scope, send, path: str) -> None:
        """The desk's page, or a vessel's evidence card (``/vessels/{mmsi}/card``), as HTML."""
        from serving.http_gate import send_json
        if scope["method"] not in ("GET", "HEAD"):
            return await send_json(send, 405, {"error": "method not allowed", "field": "method", "problem": "use GET"},
                                   [(b"allow", b"GET")])
        status = 200
        if path == "/":
            body = await anyio.to_thread.run_sync(self.page)
        else:
            raw = path[len(VESSEL_PREFIX):-len("/card")]
            if not _is_mmsi(raw):
                return await send_json(send, 422, {"error": "unprocessable", "field": "mmsi",
                                                   "problem": f"{raw!r} is not an MMSI (a number of up to 9 digits)"})
            try:
                body = (await anyio.to_thread.run_sync(_card_page, self.store, int(raw))).encode()
            except NotFound as err:
                return await send_json(send, 404, {"error": "not found", "field": err.field, "problem": str(err)})
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
        return await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    async def analyst(self, headers: dict):
        """The analyst whose key the request carries, or None."""
        return await anyio.to_thread.run_sync(analyst_of_key, self.store, headers.get("x-api-key"))

    async def __call__(self, scope, receive, send, headers: dict, service_key: str) -> None:
        from serving.http_gate import send_json  # here: the gate imports this module when it has a store
        given = headers.get("x-api-key", "")
        path = scope["path"].rstrip("/") or "/"
        if path == "/":  # the page itself holds no data: it asks for the analyst's key
            return await self._html(scope, send, path)
        if service_key and path != "/verdicts" \
                and not hmac.compare_digest(given.encode(), service_key.encode()) and await self.analyst(headers) is None:
            return await send_json(send, 401, {"error": "unauthorized", "field": "x-api-key",
                                               "problem": "missing or wrong API key (the service's or an analyst's)"})
        if path.startswith(VESSEL_PREFIX) and path.endswith("/card"):
            return await self._html(scope, send, path)
        status, body, extra = await handle(self.store, scope, receive, headers)
        return await send_json(send, status, body, extra)


class Problem(Exception):
    def __init__(self, status: int, error: str, field: str, problem: str, allow: str | None = None):
        super().__init__(problem)
        self.status, self.body, self.allow = status, {"error": error, "field": field, "problem": problem}, allow


async def handle(store: Store, scope, receive, headers: dict) -> tuple[int, object, list]:
    """(status, JSON body, extra headers) for a desk request."""
    path, method = scope["path"].rstrip("/") or "/", scope["method"]
    try:
        if path == "/verdicts":
            _method(method, "POST")
            return 200, await _verdict(store, receive, headers), []
        if path == "/alerts":
            _method(method, "GET")
            status, since = _alert_query(scope.get("query_string", b"").decode("latin-1"))
            return 200, await anyio.to_thread.run_sync(lambda: list_alerts(store, status, since)), []
        if path == "/review":
            _method(method, "GET")
            if scope.get("query_string"):
                raise Problem(400, "bad request", "query", "GET /review takes no parameters")
            return 200, await anyio.to_thread.run_sync(_review, store), []
        if path == "/vessels":
            _method(method, "GET")
            text = _search_query(scope.get("query_string", b"").decode("latin-1"))
            return 200, await anyio.to_thread.run_sync(search, store, text), []
        _method(method, "GET")
        raw = path[len(VESSEL_PREFIX):]
        if not _is_mmsi(raw):
            raise Problem(422, "unprocessable", "mmsi", f"{raw!r} is not an MMSI (a number of up to 9 digits)")
        return 200, await anyio.to_thread.run_sync(vessel, store, int(raw)), []
    except Problem as p:
        return p.status, p.body, ([(b"allow", p.allow.encode())] if p.allow else [])
    except NotFound as e:
        return 404, {"error": "not found", "field": e.field, "problem": str(e)}, []
    except StoreBusy as e:  # a watch run holds SQLite's one write lock: come back in a minute
        return 503, {"error": "busy", "field": "store", "problem": str(e)}, [(b"retry-after", b"60")]


def _method(method: str, want: str) -> None:
    if method != want:
        raise Problem(405, "method not allowed", "method", f"use {want}", allow=want)


def _search_query(qs: str) -> str:
    from urllib.parse import parse_qs
    q = parse_qs(qs, keep_blank_values=True)
    if set(q) != {"q"}:
        raise Problem(400, "bad request", "q", "give q: an MMSI, an IMO or part of a name")
    text = q["q"][-1]
    if len(text) > 100 or "\x00" in text:
        raise Problem(400, "bad request", "q", "over 100 characters, or a NUL character")
    return text


def _alert_query(qs: str) -> tuple[str | None, datetime | None]:
    from urllib.parse import parse_qs
    q = parse_qs(qs, keep_blank_values=True)
    unknown = set(q) - {"status", "since"}
    if unknown:
        raise Problem(400, "bad request", sorted(unknown)[0], "unknown parameter (status, since)")
    status = q.get("status", [None])[-1]
    if status is not None and status not in ALERT_STATUS:
        raise Problem(400, "bad request", "status", f"{status!r}: expected one of {', '.join(ALERT_STATUS)}")
    since = q.get("since", [None])[-1]
    if since is None:
        return status, None
    try:
        t = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, "bad request", "since", f"{since!r} is not an ISO 8601 time") from None
    return status, (t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC))  # no zone: UTC, as everywhere here


async def _verdict(store: Store, receive, headers: dict) -> dict:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise Problem(415, "unsupported media type", "content-type", "send application/json")
    body = await _body(receive)
    analyst = await anyio.to_thread.run_sync(analyst_of_key, store, headers.get("x-api-key"))
    if analyst is None:
        raise Problem(401, "unauthorized", "x-api-key", "an analyst's key is required (darkvoyage analyst add)")
    try:
        v = VerdictIn.model_validate(json.loads(body.decode("utf-8")))
    except json.JSONDecodeError as e:
        raise Problem(400, "bad request", "body", f"not JSON: {e.msg}") from None
    except (UnicodeDecodeError, RecursionError):
        raise Problem(400, "bad request", "body", "not JSON (not UTF-8, or nested too deep)") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise Problem(400, "bad request", ".".join(map(str, err["loc"])) or "alert_id", err["msg"]) from None
    return await anyio.to_thread.run_sync(lambda: record_verdict(store, analyst, v.alert_id, v.verdict, v.note,
                                                                 mmsi=v.mmsi))


async def _body(receive) -> bytes:
    parts, size = [], 0
    while True:
        msg = await receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_VERDICT_BYTES:
            raise Problem(413, "request too large", "body", f"over the {MAX_VERDICT_BYTES:,} bytes a verdict may take")
        parts.append(chunk)
        if not msg.get("more_body"):
            return b"".join(parts)


def _card_page(store: Store, mmsi: int) -> str:
    from .card import card_data
    from .card_render import card_html
    return card_html(card_data(store, mmsi))


def _review(store: Store) -> list[dict]:
    from .review import review_queue
    return review_queue(store, sensitive_ids(packaged_gazetteer()))


def _is_mmsi(raw: str) -> bool:
    """ASCII digits, 1 to 9 of them, not all zero (``'²'.isdigit()`` is True: not enough)."""
    import re
    return re.fullmatch(r"[0-9]{1,9}", raw) is not None and int(raw) > 0
