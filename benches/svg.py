"""A line chart as a hand-written SVG (the standard library only: no matplotlib here).

Used by benches/report.py for benches/spawn.svg and benches/spawn_fds.svg.
"""
import math

COLOURS = ["#c33", "#e89", "#36c", "#8ad", "#444", "#b80", "#6a3", "#999", "#a4c"]
DASHES = ["", "6,3", "", "6,3", "", "2,3", "", "2,3", ""]


def _ticks_log(lo, hi):
    """1-2-5 ticks covering [lo, hi]."""
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


def _fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:g} µs"
    return f"{ns:g} ns"


def _esc(text):
    """Markdown's backticks dropped, XML's specials escaped."""
    return text.replace("`", "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def line_chart(path, title, x_label, x_ticks, series, log_y=True):
    """Writes a chart of `series` to `path`; returns False (and writes nothing) if no series
    has a point.

    x_ticks: [(x value, label)], the x axis is linear from the first to the last.
    series: [(name, [(x, y ns or None)][, (colour, dash)])], one line each; a None point is
    left out (the line joins the points on either side of it). y is a time in ns, on a log
    scale if log_y. Without a style a series takes the next of COLOURS and DASHES.
    """
    ys = [y for _, pts, *_ in series for _, y in pts if y]
    if not ys:
        return False
    w, h, left, right, top, bottom = 680, 380, 80, 20, 36, 48
    x0, x1 = x_ticks[0][0], x_ticks[-1][0]
    if log_y:
        lo = 10 ** math.floor(math.log10(min(ys)))
        hi = 10 ** math.ceil(math.log10(max(ys)))
        f = math.log10
        y_ticks = _ticks_log(lo, hi)
    else:
        lo, hi = 0.0, max(ys) * 1.1
        f = float
        y_ticks = [hi * k / 4 for k in range(5)]

    def px(x):
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def py(y):
        return h - bottom - (f(y) - f(lo)) / (f(hi) - f(lo)) * (h - top - bottom)

    legend_h = 20 * len(series) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + legend_h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h + legend_h}" fill="white"/>',
           f'<text x="{left}" y="20" font-weight="bold">{_esc(title)}</text>']
    for v in y_ticks:
        y = py(v)
        major = not log_y or f"{v:e}".startswith("1")
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" '
                   f'stroke="{"#ccc" if major else "#eee"}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt_ns(v)}</text>')
    for x, label in x_ticks:
        out.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{h - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{_esc(label)}</text>')
    out += [f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
            f'<text x="{(left + w - right) / 2}" y="{h - 10}" text-anchor="middle">{_esc(x_label)}</text>']
    for k, (name, pts, *style) in enumerate(series):
        colour, dash = style[0] if style else (COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        xy = [(px(x), py(y)) for x, y in pts if y]
        if len(xy) > 1:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} '
                       f'points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in xy)}"/>')
        for a, b in xy:
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>')
        yy = h + 14 + 20 * k
        out.append(f'<line x1="{left}" y1="{yy - 4}" x2="{left + 24}" y2="{yy - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dash_attr}/><text x="{left + 32}" y="{yy}">{_esc(name)}</text>')
    out.append("</svg>")
    with open(path, "w") as f_out:
        f_out.write("\n".join(out) + "\n")
    return True
