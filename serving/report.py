"""``darkvoyage report``: weekly and monthly event counts by flag and by area, as an offline HTML
page of SVG charts (drawn here, no script, no network) with the numbers as CSV beside it.

Counted (``METRICS``): gaps of at least 12 h and of at least 30 h (GFW's and Lloyd's List's
thresholds; gaps whose ends are two ships on one MMSI left out), gaps in which a possible dark
port call fits (one per gap, however many ports fit), encounters and dark rendezvous. An event
counts in the week (Monday-Sunday, UTC) and month of its start. Area: within
``sensitive_near_km`` of a sensitive port's radius ("near <port>"), else near another port
("near other ports"), else "open sea"; two-vessel events by their meeting place. Below the
charts, the dark rendezvous to check first: the ``CHECK_FIRST`` best scores.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import Config
from features.events import dark_mask, meeting_points, rendezvous_scores
from features.flags import flag_of
from features.gazetteer import Gazetteer
from features.io import check_output
from serving.pages import page

METRICS = ("gaps >= 12 h", "gaps >= 30 h", "possible dark port calls", "encounters", "dark rendezvous")
PALETTE = ("#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22")
#: Flags drawn separately in the charts; the rest are "other" (the CSV has every flag).
TOP_FLAGS = 6
#: Dark rendezvous listed on the page by score, best first: the ones to check first.
CHECK_FIRST = 15


def check_report_output(path: Path) -> Path:
    """The page must end in .html and its folder exist; returns the CSV path beside it."""
    return check_output(path, (".html",), "report output").with_suffix(".csv")


def areas(events: pd.DataFrame, gaz: Gazetteer, cfg: Config) -> np.ndarray:
    """Per event: 'near <sensitive port>', 'near other ports' or 'open sea' (see module doc)."""
    lat, lon = meeting_points(events)
    out = np.full(len(events), "open sea", dtype=object)
    if not len(events) or gaz.n == 0:
        return out
    reach = gaz.radius_km + cfg.sensitive_near_km
    sens, _ = gaz.in_reach(lat, lon, np.where(gaz.sensitive, reach, -1.0), key=f"rep-s{cfg.sensitive_near_km}")
    other, _ = gaz.in_reach(lat, lon, np.where(gaz.sensitive, -1.0, reach), key=f"rep-o{cfg.sensitive_near_km}")
    names = np.array([f"near {gaz.short_name(i)}" for i in range(gaz.n)], dtype=object)
    out[other >= 0] = "near other ports"
    out[sens >= 0] = names[sens[sens >= 0]]
    return out


def counted(events: pd.DataFrame, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per counted item: metric, start, flag, area."""
    ev = events[dark_mask(events)]
    gaps = ev[ev["kind"] == "gap"]
    calls = ev[ev["kind"] == "possible_dark_port_call"].drop_duplicates(["track_id", "start"])
    parts = [(gaps[gaps["hours"] >= 12], METRICS[0]), (gaps[gaps["hours"] >= 30], METRICS[1]),
             (calls, METRICS[2]), (ev[ev["kind"] == "encounter"], METRICS[3]), (ev[ev["kind"] == "dark_rendezvous"], METRICS[4])]
    rows = []
    for frame, metric in parts:
        rows.append(pd.DataFrame({"metric": metric, "start": frame["start"].to_numpy(),
                                  "flag": flag_of(frame["mmsi"].to_numpy()).fillna("unknown").to_numpy(),
                                  "area": areas(frame, gaz, cfg)}))
    return pd.concat(rows, ignore_index=True)


def check_first(events: pd.DataFrame, gaz: Gazetteer, cfg: Config, n: int = CHECK_FIRST) -> pd.DataFrame:
    """The ``n`` dark rendezvous with the highest score (h), best first: start, mmsi,
    partner_mmsi, their flags, meeting place (lat, lon, area), score_h, hours together."""
    rdv = events[events["kind"] == "dark_rendezvous"].copy()
    rdv["score_h"] = rendezvous_scores(rdv)
    rdv = rdv.sort_values(["score_h", "start"], ascending=[False, True], kind="stable").head(n)
    lat, lon = meeting_points(rdv)
    partner = rdv["partner_mmsi"].to_numpy(np.int64)
    return pd.DataFrame({"start": pd.to_datetime(rdv["start"]).dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
                         "mmsi": rdv["mmsi"].to_numpy(), "partner_mmsi": partner,
                         "flags": flag_of(rdv["mmsi"].to_numpy()).fillna("?").to_numpy() + " / "
                         + flag_of(partner).fillna("?").to_numpy(),
                         "lat": np.round(lat, 3), "lon": np.round(lon, 3), "area": areas(rdv, gaz, cfg),
                         "score_h": rdv["score_h"].to_numpy(), "hours": rdv["hours"].round(1).to_numpy()})


def _period(start: pd.Series, kind: str) -> pd.Series:
    naive = pd.to_datetime(start).dt.tz_convert("UTC").dt.tz_localize(None)
    if kind == "week":
        return (naive.dt.normalize() - pd.to_timedelta(naive.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
    return naive.dt.strftime("%Y-%m")


def _all_periods(events: pd.DataFrame, kind: str) -> list[str]:
    """Every week or month from the first to the last event (empty ones too: a zero is news)."""
    if not len(events):
        return []
    t = pd.to_datetime(events["start"]).dt.tz_convert("UTC").dt.tz_localize(None)
    lo, hi = t.min(), t.max()
    if kind == "week":
        lo = lo.normalize() - pd.Timedelta(days=lo.weekday())
        return [d.strftime("%Y-%m-%d") for d in pd.date_range(lo, hi, freq="7D")]
    return [p.strftime("%Y-%m") for p in pd.period_range(lo.to_period("M"), hi.to_period("M"), freq="M")]


def count_table(events: pd.DataFrame, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """The numbers behind the charts: period_type (week/month), period (week's Monday or
    YYYY-MM), metric, by (all/flag/area), group, count. Every period and metric appears in
    the ``all`` rows, zeros included."""
    c = counted(events, gaz, cfg)
    out = []
    for kind in ("week", "month"):
        c["period"] = _period(c["start"], kind) if len(c) else pd.Series(dtype="str")
        full = pd.MultiIndex.from_product([_all_periods(events, kind), METRICS], names=["period", "metric"])
        tot = c.groupby(["period", "metric"]).size().reindex(full, fill_value=0).reset_index(name="count")
        out.append(tot.assign(period_type=kind, by="all", group="all"))
        for by in ("flag", "area"):
            g = c.groupby(["period", "metric", by]).size().reset_index(name="count").rename(columns={by: "group"})
            out.append(g.assign(period_type=kind, by=by))
    cols = ["period_type", "period", "metric", "by", "group", "count"]
    return pd.concat(out, ignore_index=True)[cols].sort_values(cols[:5], kind="stable").reset_index(drop=True)


def _nice_max(v: float) -> tuple[float, float]:
    """(axis top, tick step) for a largest value ``v``: 1, 2 or 5 times a power of ten."""
    v = max(float(v), 1.0)
    step = 10 ** np.floor(np.log10(v / 4))
    for m in (1, 2, 5, 10):
        if v / (step * m) <= 5:
            step *= m
            break
    return float(np.ceil(v / step) * step), float(step)


def stacked_bars(periods: list[str], series: list[tuple[str, str, np.ndarray]], title: str,
                 width: int = 396, height: int = 224, labels: list[str] | None = None) -> str:
    """An inline SVG of stacked bars: one bar per period, one colour per series (name, colour,
    counts per period), the total above each bar, a grid and a y axis; ``labels`` name the
    periods on the axis (default: the periods)."""
    left, right, top, bottom = 42, 8, 36, 58
    labels = labels or periods
    pw, ph = width - left - right, height - top - bottom
    n = max(len(periods), 1)
    totals = np.sum([s[2] for s in series], axis=0) if series else np.zeros(n)
    ymax, step = _nice_max(totals.max() if len(totals) else 0)
    y = lambda v: top + ph - v / ymax * ph  # noqa: E731
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>']
    for k in range(int(round(ymax / step)) + 1):
        v = k * step
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 4}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:g}</text>')
    bw = pw / n
    bar = min(bw * 0.76, 48.0)  # one month of data is one bar, not a slab
    label_every = int(np.ceil(n / 14))
    for i, p in enumerate(periods):
        x = left + (i + 0.5) * bw - bar / 2
        base = 0.0
        for name, colour, vals in series:
            v = float(vals[i])
            if v > 0:
                parts.append(f'<rect class="bar" x="{x:.1f}" y="{y(base + v):.1f}" width="{bar:.1f}" '
                             f'height="{y(base) - y(base + v):.1f}" fill="{colour}" data-value="{v:g}">'
                             f'<title>{html.escape(p)} {html.escape(name)}: {v:g}</title></rect>')
            base += v
        cx = left + (i + 0.5) * bw
        if n <= 26 and base > 0:
            parts.append(f'<text x="{cx:.1f}" y="{y(base) - 3:.1f}" class="val" text-anchor="middle">{base:g}</text>')
        if i % label_every == 0:
            parts.append(f'<text transform="translate({cx:.1f},{top + ph + 10}) rotate(-40)" class="tick" '
                         f'text-anchor="end">{html.escape(labels[i])}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" class="axis"/>'
                 f'<line x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" class="axis"/></svg>')
    return "".join(parts)


def _series(table: pd.DataFrame, kind: str, metric: str, by: str, groups: list[str], periods: list[str],
            colours: dict[str, str]) -> list[tuple[str, str, np.ndarray]]:
    t = table[(table["period_type"] == kind) & (table["metric"] == metric) & (table["by"] == by)]
    grid = t.pivot_table(index="period", columns="group", values="count", aggfunc="sum").reindex(periods).fillna(0)
    out = []
    for g in groups:
        if g == "other":
            vals = grid.drop(columns=[c for c in groups if c in grid.columns], errors="ignore").sum(axis=1)
        else:
            vals = grid[g] if g in grid.columns else pd.Series(0, index=grid.index)
        out.append((g, colours[g], vals.to_numpy(float)))
    return out


def _groups(table: pd.DataFrame, by: str, limit: int | None = None) -> list[str]:
    t = table[(table["by"] == by) & (table["period_type"] == "month")].groupby("group")["count"].sum()
    order = list(t.sort_values(ascending=False, kind="stable").index)
    if by == "area":  # sensitive ports first, by volume; then the rest
        order = [g for g in order if g not in ("near other ports", "open sea")] + \
                [g for g in ("near other ports", "open sea") if g in order]
    if limit is not None and len(order) > limit:
        order = order[:limit] + ["other"]
    return order


def render_report(events: pd.DataFrame, table: pd.DataFrame, sources: list[str], cfg: Config,
                  first_checks: pd.DataFrame | None = None) -> str:
    """The HTML page: summary, weekly charts by area, monthly charts by flag, totals tables."""
    weeks = list(dict.fromkeys(table.loc[table["period_type"] == "week", "period"]))
    months = list(dict.fromkeys(table.loc[table["period_type"] == "month", "period"]))
    area_groups, flag_groups = _groups(table, "area"), _groups(table, "flag", TOP_FLAGS)
    area_col = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(area_groups)}
    area_col.update({"open sea": "#5d6d7e", "near other ports": "#aab7b8"})
    flag_col = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(flag_groups)}
    flag_col["other"] = "#aab7b8"
    t = pd.to_datetime(events["start"]) if len(events) else pd.Series(dtype="datetime64[us, UTC]")
    wl, ml = _partial_labels(weeks, months, t)
    weekly = [stacked_bars(weeks, _series(table, "week", m, "area", area_groups, weeks, area_col), f"{m}, per week",
                           labels=wl) for m in METRICS]
    monthly = [stacked_bars(months, _series(table, "month", m, "flag", flag_groups, months, flag_col),
                            f"{m}, per month", labels=ml) for m in METRICS]
    allm = table[(table["by"] == "all")]
    summary = allm[allm["period_type"] == "month"].pivot_table(index="period", columns="metric", values="count",
                                                               aggfunc="sum").reindex(columns=list(METRICS)).fillna(0)
    return page("report.html").render(
        metrics=METRICS, weekly=weekly, monthly=monthly, summary=summary, sources=sources,
        first=t.min().strftime("%Y-%m-%d") if len(t) else "-", last=t.max().strftime("%Y-%m-%d") if len(t) else "-",
        area_legend=[(g, area_col[g]) for g in area_groups], flag_legend=[(g, flag_col[g]) for g in flag_groups],
        by_area=_totals(table, "area", area_groups), by_flag=_totals(table, "flag", _groups(table, "flag")),
        cfg=cfg, n_events=len(events), check_first=first_checks if first_checks is not None else pd.DataFrame())


def _partial_labels(weeks: list[str], months: list[str], t: pd.Series) -> tuple[list[str], list[str]]:
    """Axis labels with '*' on a week or month the data covers only in part (its first or last
    day outside the events' time span): a low bar there is the edge of the data, not a lull."""
    if not len(t):
        return weeks, months
    lo = t.min().tz_convert("UTC").tz_localize(None).normalize()
    hi = t.max().tz_convert("UTC").tz_localize(None).normalize()
    wl = [w + ("*" if pd.Timestamp(w) < lo or pd.Timestamp(w) + pd.Timedelta(days=6) > hi else "") for w in weeks]
    ml = [m + ("*" if pd.Timestamp(m + "-01") < lo or pd.Timestamp(m + "-01") + pd.offsets.MonthEnd(0) > hi else "")
          for m in months]
    return wl, ml


def _totals(table: pd.DataFrame, by: str, groups: list[str]) -> pd.DataFrame:
    t = table[(table["period_type"] == "month") & (table["by"] == by)]
    return t.pivot_table(index="group", columns="metric", values="count", aggfunc="sum").reindex(
        index=[g for g in groups if g != "other"], columns=list(METRICS)).fillna(0).astype(int)


def write_report(events: pd.DataFrame, gaz: Gazetteer, cfg: Config, out: Path, sources: list[str]) -> tuple[Path, Path]:
    """Write ``out`` (.html) and the numbers as ``out`` with .csv; returns both paths."""
    out = Path(out)
    csv = check_report_output(out)
    table = count_table(events, gaz, cfg)
    table.to_csv(csv, index=False)
    out.write_text(render_report(events, table, [Path(s).name for s in sources], cfg, check_first(events, gaz, cfg)),
                   encoding="utf-8")
    return out, csv
