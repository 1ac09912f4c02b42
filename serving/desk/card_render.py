"""An evidence card's data (:func:`serving.desk.card.card_data`) as a self-contained HTML page
(an SVG map and timeline drawn here, no script, no network: it prints to PDF as it shows) or
as Markdown."""

from __future__ import annotations

import math

import pandas as pd

from training.registry import model_label

from .card import escape as e


def _fmt(x, spec: str = "%.2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else spec % x


def _map_svg(d: dict, w: int = 640, h: int = 440) -> str:
    from serving.export import map_base
    from .alerts import packaged_gazetteer
    v = d["vessel"]
    pts = [(p[0], p[1]) for p in v["track"]] + [(g["lon"], g["lat"]) for g in d["gaps"]]
    lo0, lo1, la0, la1 = 46.4, 55.2, 36.4, 47.4
    if pts:
        lo0, lo1 = min(p[0] for p in pts) - 0.8, max(p[0] for p in pts) + 0.8
        la0, la1 = min(p[1] for p in pts) - 0.8, max(p[1] for p in pts) + 0.8
    k = math.cos(math.radians((la0 + la1) / 2))
    s = min(w / ((lo1 - lo0) * k), h / (la1 - la0))
    X = lambda lon: (lon - lo0) * k * s  # noqa: E731
    Y = lambda lat: h - (lat - la0) * s  # noqa: E731
    base = map_base(packaged_gazetteer())
    water = " ".join("M" + "L".join(f"{X(p[0]):.1f},{Y(p[1]):.1f}" for p in ring) + "Z" for ring in base["water"])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" class="map">',
           f'<rect width="{w}" height="{h}" fill="#f4f1ea"/><path d="{water}" fill="#cfe3f3" stroke="#7fa7c9" '
           'fill-rule="evenodd" stroke-width="0.6"/>']
    for g in d["gaps"]:  # the area it could reach while dark: an ellipse with the gap's ends as foci
        a, b = g["reach_km"]
        ang = math.degrees(math.atan2(-(g["end_lat"] - g["lat"]) * 111.2, (g["end_lon"] - g["lon"]) * 111.2 * k))
        out.append(f'<ellipse class="reach" cx="{X(g["centre"][1]):.1f}" cy="{Y(g["centre"][0]):.1f}" rx="{a / 111.2 * s:.1f}" '
                   f'ry="{max(b, 0.5) / 111.2 * s:.1f}" transform="rotate({ang:.1f} {X(g["centre"][1]):.1f} '
                   f'{Y(g["centre"][0]):.1f})" fill="#c0392b" fill-opacity="0.08" stroke="#c0392b" stroke-opacity="0.4"/>')
    if len(v["track"]) > 1:
        out.append('<polyline class="track" fill="none" stroke="#34495e" stroke-width="1.2" points="'
                   + " ".join(f"{X(p[0]):.1f},{Y(p[1]):.1f}" for p in v["track"]) + '"/>')
    for g in d["gaps"]:
        out.append(f'<line class="gap" x1="{X(g["lon"]):.1f}" y1="{Y(g["lat"]):.1f}" x2="{X(g["end_lon"]):.1f}" '
                   f'y2="{Y(g["end_lat"]):.1f}" stroke="#c0392b" stroke-width="1.8" stroke-dasharray="4 3"/>')
    dark = {c["port_id"] for c in d["dark_calls"]}
    for p in base["ports"]:
        if lo0 <= p["lon"] <= lo1 and la0 <= p["lat"] <= la1:
            if p["id"] in dark:
                out.append(f'<circle cx="{X(p["lon"]):.1f}" cy="{Y(p["lat"]):.1f}" r="9" fill="none" stroke="#8e44ad" stroke-width="2"/>')
            out.append(f'<circle cx="{X(p["lon"]):.1f}" cy="{Y(p["lat"]):.1f}" r="3" fill="{"#c0392b" if p["sensitive"] else "#1b2631"}"/>'
                       f'<text x="{X(p["lon"]) + 5:.1f}" y="{Y(p["lat"]) + 3:.1f}" font-size="9">{e(p["name"])}</text>')
    return "".join(out) + "</svg>"


def _timeline_svg(d: dict, w: int = 640, h: int = 26) -> str:
    v = d["vessel"]
    items = [(x["start"], x["end"], "#5d6d7e") for x in v["voyages"] if x["start"] and x["end"]] + \
        [(g["start"], g["end"], "#c0392b") for g in v["events"] if g["kind"] == "gap"]
    if not items:
        return ""
    t = [(pd.Timestamp(a).value, pd.Timestamp(b).value, c) for a, b, c in items]
    t0, t1 = min(x[0] for x in t), max(x[1] for x in t)
    span = max(t1 - t0, 1)
    bars = "".join(f'<rect x="{(a - t0) / span * w:.1f}" y="0" width="{max((b - a) / span * w, 0.8):.1f}" height="{h}" '
                   f'fill="{c}"/>' for a, b, c in t)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" class="timeline">'
            f'<rect width="{w}" height="{h}" fill="#eef2f5"/>{bars}</svg>'
            f'<div class="muted">{e(pd.Timestamp(t0, tz="UTC").strftime("%Y-%m-%d %H:%M"))} &rarr; '
            f'{e(pd.Timestamp(t1, tz="UTC").strftime("%Y-%m-%d %H:%M"))} UTC; grey: voyages, red: AIS off</div>')


def card_html(d: dict) -> str:
    v, m, p = d["vessel"], d["model"], d["provenance"]
    gaps = "".join(f"<tr><td>{e(g['start'][:16])}</td><td>{_fmt(g['hours'], '%.1f')} h</td><td>{e(g['detail'])}</td>"
                   f"<td>{' '.join(f'<a href={chr(34)}{e(u)}{chr(34)}>{e(n)}</a>' for n, u in g['links'].items())}</td></tr>"
                   for g in d["gaps"])
    calls = "".join(f"<li>{e(c['start'][:16])}: {e(c['detail'])}</li>" for c in d["dark_calls"]) or "<li>none</li>"
    ids = "".join(f"<li>{e(i['from_mmsi'])} &rarr; {e(i['to_mmsi'])} ({e(i['level'])}): {e(i['evidence'])}</li>"
                  for i in v["identities"]) or "<li>none</li>"
    alerts = "".join(f"<li>#{a['id']} {e(a['kind'])} ({e(a['status'])}): {e(a['reasons'])}"
                     + "".join(f"<br><i>{e(x['analyst'])}: {e(x['verdict'])} &mdash; {e(x['note'])}</i>" for x in a["verdicts"])
                     + "</li>" for a in v["alerts"]) or "<li>none</li>"
    files = "".join(f"<li>{e(f['file'])}: {f['rows']:,} rows (SHA-256 {e(f['sha256'][:16])}&hellip;)</li>" for f in p["files"])
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Evidence card: {e(v['name'] or v['mmsi'])}</title><style>
body{{font:13px system-ui,sans-serif;margin:24px;color:#1b2631;max-width:900px}} h1{{font-size:20px;margin:0}}
table{{border-collapse:collapse;width:100%}} td,th{{border:1px solid #d5dbe2;padding:3px 5px;vertical-align:top;text-align:left}}
.disclaimer{{border:2px solid #b9770e;background:#fff3d6;padding:8px;margin:10px 0}} .muted{{color:#7b8794}}
</style></head><body>
<h1>Evidence card: {e(v['name'] or 'unnamed')} &mdash; MMSI {v['mmsi']}</h1>
<p>IMO {e(v['imo'] or 'n/a')}, call sign {e(v['callsign'] or 'n/a')}, flag {e(v['flag'] or 'n/a')}. Risk
<b>{_fmt(v['risk'])}</b> ({e(v['level'])}) by model {e(model_label(m))} (reference AP
{_fmt(m['reference_ap'], '%.3f')}; {e(m['uri'])}), watch run {m['run']}.</p>
<p class="disclaimer" id="disclaimer">{e(d['disclaimer'])}</p>
<h2>Why it was flagged</h2><p>{e(v['reasons'])}</p>
<h2>Map</h2>{_map_svg(d)}<div class="muted">dark line: track; red dashes: AIS off; shaded: where it could be while dark
(at up to 12 kn); purple rings: ports where a dark call fits; red dots: sensitive ports</div>
<h2>Timeline</h2>{_timeline_svg(d)}
<h2>Gaps, longest first, with imagery to check</h2><table><tr><th>start (UTC)</th><th>length</th><th>detail</th><th>imagery</th></tr>{gaps}</table>
<h2>Possible dark port calls</h2><ul>{calls}</ul>
<h2>Identities</h2><ul>{ids}</ul>
<h2>Alerts and verdicts</h2><ul>{alerts}</ul>
<h2>Where the data came from</h2><p>{p['rows']:,} positions of this vessel{(', ' + e(p.get('first', '')[:16]) + ' to ' + e(p.get('last', '')[:16])) if p['rows'] else ''};
receivers: {e(', '.join(f'{k} {n:,}' for k, n in p['receivers'].items()) or 'not stated in the data')}.</p><ul>{files}</ul>
</body></html>"""


def card_markdown(d: dict) -> str:
    v, m, p = d["vessel"], d["model"], d["provenance"]
    lines = [f"# Evidence card: {v['name'] or 'unnamed'} (MMSI {v['mmsi']})", "",
             f"IMO {v['imo'] or 'n/a'}, call sign {v['callsign'] or 'n/a'}, flag {v['flag'] or 'n/a'}. "
             f"Risk **{_fmt(v['risk'])}** ({v['level']}) by model {model_label(m)} "
             f"(reference AP {_fmt(m['reference_ap'], '%.3f')}), watch run {m['run']}.", "", f"> {d['disclaimer']}", "",
             "## Why it was flagged", "", v["reasons"] or "", "", "## Gaps, longest first", ""]
    lines += [f"- {g['start'][:16]} UTC, {_fmt(g['hours'], '%.1f')} h: {g['detail']} — "
              + ", ".join(f"[{n}]({u})" for n, u in g["links"].items()) for g in d["gaps"]] or ["- none"]
    lines += ["", "## Possible dark port calls", ""] + ([f"- {c['start'][:16]}: {c['detail']}" for c in d["dark_calls"]]
                                                        or ["- none"])
    lines += ["", "## Identities", ""] + ([f"- {i['from_mmsi']} -> {i['to_mmsi']} ({i['level']}): {i['evidence']}"
                                           for i in v["identities"]] or ["- none"])
    lines += ["", "## Alerts and verdicts", ""] + ([f"- #{a['id']} {a['kind']} ({a['status']}): {a['reasons']}"
                                                    for a in v["alerts"]] or ["- none"])
    lines += ["", "## Where the data came from", "", f"{p['rows']:,} positions; receivers: "
              + (", ".join(f"{k} {n:,}" for k, n in p["receivers"].items()) or "not stated in the data")]
    lines += [f"- {f['file']}: {f['rows']:,} rows (SHA-256 {f['sha256'][:16]}...)" for f in p["files"]]
    return "\n".join(lines) + "\n"
