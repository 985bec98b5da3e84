"""A dependency-free SVG chart: req/s and p99 per scenario, one bar per proxy.

Scenarios differ by orders of magnitude (12 B vs 256 KiB bodies), so bars are
scaled within each scenario group and every bar is labelled with its value;
the chart compares proxies, the tables carry the numbers.
"""

from __future__ import annotations

from html import escape

COLORS = {"nginx": "#2b8a3e", "haproxy": "#1c7ed6", "shardgate": "#e8590c",
          "caddy": "#7048e8", "shardgate http/1.1+tls": "#f59f00"}
GROUP_W, BAR_W, PANEL_H, TOP, LEFT = 150, 38, 220, 40, 20


def _panel(groups, key, title, y0, unit) -> list[str]:
    out = [f'<text x="{LEFT}" y="{y0 - 12}" font-size="15" font-weight="bold">'
           f'{escape(title)}</text>']
    base = y0 + PANEL_H
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + GROUP_W * len(groups)}" '
               f'y2="{base}" stroke="#333"/>')
    for gi, (label, bars) in enumerate(groups):
        vals = [b[key] for b in bars if b[key] is not None]
        top = max(vals) if vals else 1.0
        gx = LEFT + gi * GROUP_W + 10
        for bi, b in enumerate(bars):
            v = b[key]
            if v is None:
                continue
            h = (PANEL_H - 30) * v / top if top else 0
            x = gx + bi * (BAR_W + 4)
            out.append(f'<rect x="{x}" y="{base - h:.1f}" width="{BAR_W}" height="{h:.1f}" '
                       f'fill="{COLORS.get(b["proxy"], "#888")}"><title>{b["proxy"]}: '
                       f'{v:,.0f} {unit}</title></rect>')
            txt = f"{v / 1000:.1f}k" if v >= 10000 else f"{v:,.0f}"
            out.append(f'<text x="{x + BAR_W / 2}" y="{base - h - 4:.1f}" font-size="10" '
                       f'text-anchor="middle">{txt}</text>')
        for li, part in enumerate(_wrap(label)):
            out.append(f'<text x="{gx + GROUP_W / 2 - 10}" y="{base + 16 + 12 * li}" '
                       f'font-size="10" text-anchor="middle">{escape(part)}</text>')
    return out


def _wrap(text: str, width: int = 24) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return lines + [cur] if cur else lines


def chart(summaries: list[dict]) -> str:
    groups: dict[str, list[dict]] = {}
    for s in summaries:
        if "rps" not in s:
            continue
        variant = {"1w": "1 worker", "2w": "2 workers"}.get(s["variant"], s["variant"])
        label = f"{s['label']} [{variant}]"
        groups.setdefault(label, []).append({"proxy": s["proxy"], "rps": s["rps"]["median"],
                                             "p99": s["p99_us"]["median"]})
    items = list(groups.items())
    width = LEFT * 2 + GROUP_W * max(1, len(items))
    height = TOP + 2 * (PANEL_H + 90) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for i, name in enumerate(COLORS):
        out.append(f'<rect x="{LEFT + 120 * i}" y="8" width="12" height="12" '
                   f'fill="{COLORS[name]}"/><text x="{LEFT + 120 * i + 16}" y="19" '
                   f'font-size="12">{name}</text>')
    out.append(f'<text x="{LEFT + 380}" y="19" font-size="11" fill="#555">bars are scaled '
               f'within each scenario; labels carry the values</text>')
    out += _panel(items, "rps", "Throughput, req/s (median; higher is better)", TOP + 20, "req/s")
    out += _panel(items, "p99", "p99 latency, µs (median; lower is better)",
                  TOP + 20 + PANEL_H + 90, "µs")
    out.append("</svg>")
    return "\n".join(out)
