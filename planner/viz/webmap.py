"""The interactive allocation map: one self-contained HTML page (plotly).

Nothing is fetched when the page opens: plotly.js is inlined from the ``plotly``
package, state outlines come from the Census shapefile that ``plotly-geo`` ships,
and only plain cartesian traces are used (``scattergeo`` and map tiles would fetch
topojson or tiles from the network). Coordinates are the US equal-area projection
(EPSG:5070) in km, drawn with an equal aspect ratio, like ``map.png``.

What is drawn: every binding branch (thick), every branch at
:data:`COLOURED_FROM_PERCENT` or more of its limit coloured by loading, the rest of
the network as a grey background (on large grids only its highest voltages, see
:data:`MAX_BACKGROUND`), sites sized by MW with the largest labelled (off other labels and
markers, see :func:`_label_annotations`), and the AI requested at a site and not served
there (its legend entry gives the AI demand unmet too, as the console and summary.json do).
Hovering shows the details of a site or branch.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from planner.viz import plot

#: branches at or above this share of their limit are drawn in colour
COLOURED_FROM_PERCENT = 50.0
#: loading bins of the coloured branches: (from %, to %, label); over 100 % has a colour of its own
BINS = [(50.0, 80.0, "50–80 % of limit"), (80.0, 90.0, "80–90 % of limit"), (90.0, 100.0 + 1e-6, "90–100 % of limit")]
#: grey background: every branch when the grid has at most this many, else the highest kV levels that fit
MAX_BACKGROUND = 15_000
#: branches with hover details: every binding and overloaded branch, then the most loaded up to this many
MAX_HOVER = 3_000


def _lines(segs_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one line trace drawing every segment, separated by gaps (NaN)."""
    n = len(segs_km)
    xy = np.full((n, 3, 2), np.nan, dtype=np.float32)
    xy[:, :2] = np.round(segs_km, 1)
    return xy[..., 0].ravel(), xy[..., 1].ravel()


def _num(value, fmt: str = ",.0f", unit: str = "") -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(value) else f"{value:{fmt}}{unit}"


def _background(grid, ids: np.ndarray) -> tuple[np.ndarray, str]:
    """The branches of the grey background and how they were chosen."""
    if len(ids) <= MAX_BACKGROUND:
        return np.ones(len(ids), bool), "every branch"
    kv = grid.branches["kv_from"].reindex(ids).to_numpy(float) if "kv_from" in grid.branches else np.zeros(len(ids))
    for level in np.unique(kv[np.isfinite(kv)]):
        keep = kv >= level
        if keep.sum() <= MAX_BACKGROUND:
            return keep, f"branches of {level:g} kV and more"
    return kv >= np.nanmax(kv), f"branches of {np.nanmax(kv):g} kV"


def _branch_hover(result, grid, ids: np.ndarray, value: np.ndarray, what: str) -> list[str]:
    b = result.branches.set_index("branch_id").reindex(ids)
    names = grid.buses["substation_name"] if "substation_name" in grid.buses else pd.Series(dtype=str)
    kv = grid.buses["kv"] if "kv" in grid.buses else pd.Series(dtype=float)
    n1 = "n1_loading_percent" in b and result.summary.security == "n-1"
    out = []
    for i, (bid, row) in enumerate(b.iterrows()):
        ends = []
        for bus in (row["from_bus"], row["to_bus"]):
            label = html.escape(str(names.get(bus, ""))) if bus in names.index else ""
            ends.append(f"{int(bus)} {label} ({_num(kv.get(bus), 'g')} kV)".replace("  ", " "))
        lines = [f"<b>branch {int(bid)}</b> ({row.get('kind', 'branch')})",
                 f"from {ends[0]}", f"to {ends[1]}",
                 (f"flow {_num(row['flow_mw'])} MW of {_num(row['rate_mw'])} MW rating "
                  f"({_num(row['loading_percent'], '.0f', ' %')} at peak)")]
        if "offpeak_loading_percent" in b:
            lines.append(f"off-peak {_num(row['offpeak_flow_mw'])} MW "
                         f"({_num(row['offpeak_loading_percent'], '.0f', ' %')})")
        if n1:
            outage = row["n1_worst_outage_branch_id"]
            lines.append(f"N-1: worst {_num(row['n1_loading_percent'], '.0f', ' %')} of rating after outage of branch "
                         + ("–" if pd.isna(outage) else f"{int(outage)}"))
        lines.append(f"{what}: <b>{_num(value[i], '.0f', ' %')}</b>")
        if bool(row.get("binding", False)):
            lines.append(f"<b>binding</b>: shadow price ${_num(row['shadow_price_usd_per_mw'])} per MW of rating")
        if bool(row.get("preexisting_overload", False)):
            lines.append("over its rating already without new load")
        out.append("<br>".join(lines))
    return out


def _site_hover(row) -> str:
    def text(col):
        v = row.get(col)
        return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else html.escape(str(v))

    lines = [f"<b>{text('name')}</b> ({text('site_id')})"]
    if text("operator"):
        lines.append(f"operator {text('operator')}")
    lines.append(f"use: {plot.USE_STYLE.get(row['use'], ('', '', row['use']))[2]}")
    lines.append(f"AI {_num(row['ai_mw'])} MW, mining {_num(row['mining_mw'])} MW, cap {_num(row.get('cap_mw'))} MW")
    if row.get("requested_mw", 0) and row["requested_mw"] > 0.5:
        lines.append(f"AI requested {_num(row['requested_mw'])} MW ({text('request')}), "
                     f"not served {_num(row['unmet_mw'])} MW")
    lines.append(f"value ${_num(row['value_usd'] / 1e6)}M")
    lines.append(f"one more MW of interconnection worth ${_num(row.get('marginal_value_usd_per_mw'))}/MW")
    if text("limited_by"):
        lines.append(f"limited by: {text('limited_by')}")
    if text("bus"):
        lines.append(f"bus {text('bus')} {text('bus_name')} ({_num(row.get('bus_kv'), 'g')} kV), "
                     f"{_num(row.get('distance_km'), '.0f')} km away")
    return "<br>".join(lines)


#: the page the labels are placed for, px: the 94 % high figure in a 1400 x 900 browser window
#: (less its scroll bar and the browser's own bars), of which the legend takes about LEGEND_PX
#: on the right; zooming keeps each label beside its site
PAGE_PX, LEGEND_PX = (1369, 764), 340
#: label size estimate at font size 12, px: width of a character, height of a line
CHAR_PX, LINE_PX = 7.0, 17.0
#: distances of a label from the edge of its marker, px: beside it, then farther out with a leader line
RINGS_PX = [5.0, 16.0, 32.0, 55.0, 85.0, 120.0]


def _label_annotations(top_xy: np.ndarray, labels: list[str], top_radius_px: np.ndarray, sites_xy: np.ndarray,
                       sites_radius_px: np.ndarray, labelled: np.ndarray, km_per_px: float,
                       extent: tuple) -> list:
    """One annotation a label (x, y in km): placed by :func:`planner.viz.plot.place_boxes` in pixels
    at the scale ``km_per_px``, away from the other labels, every site's marker (``sites_xy``,
    ``sites_radius_px``) and the edge of the plot (``extent``: x0, x1, y0, y1 km). A label
    beside its marker is shifted; one farther out gets a leader line."""
    radii = np.asarray(sites_radius_px, float).copy()
    radii[labelled] = np.maximum(radii[labelled], top_radius_px)
    sizes = np.array([(len(label) * CHAR_PX + 4, LINE_PX) for label in labels])
    x0, x1, y0, y1 = extent
    choice = plot.place_boxes(np.asarray(sites_xy, float) / km_per_px, radii, sizes, labelled, RINGS_PX,
                              frame=(x0 / km_per_px, y0 / km_per_px, x1 / km_per_px, y1 / km_per_px))
    out = []
    for (x, y), label, k, (ring, ox, oy, box) in zip(top_xy, labels, labelled, choice):
        cx = (box[0] + box[2]) / 2 - x / km_per_px  # the box centre's offset from the site, px (y up)
        cy = (box[1] + box[3]) / 2 - y / km_per_px
        note = {"x": x, "y": y, "xref": "x", "yref": "y", "text": html.escape(label), "name": "site label",
                "font": {"size": 12, "color": "#202020"}, "bgcolor": "rgba(255,255,255,0.7)", "borderpad": 1}
        if ring == 0:  # anchored at the side facing the marker: a narrower text than estimated stays close
            note.update(showarrow=False, xshift=ox, yshift=oy,
                        xanchor="left" if ox > 0 else "right" if ox < 0 else "center",
                        yanchor="bottom" if oy > 0 else "top" if oy < 0 else "middle")
        else:  # the text is centred on the arrow's tail; the line stops at the marker's edge
            note.update(showarrow=True, arrowhead=0, arrowwidth=1, arrowcolor="#404040", axref="pixel",
                        ayref="pixel", ax=cx, ay=-cy, standoff=float(radii[k]))
        out.append(note)
    return out


def allocation_figure(grid, result):
    """The plotly figure of :func:`allocation_html`."""
    import plotly.graph_objects as go

    from planner.data.states import state_outlines

    sites = plot.site_table(result)
    sites["x_km"], sites["y_km"] = sites["x_m"] / 1000, sites["y_m"] / 1000
    x0, x1, y0, y1 = (v / 1000 for v in plot.map_extent(grid, sites))
    fig = go.Figure()

    outlines = state_outlines(plot.MAP_CRS, 2000.0).cx[x0 * 1000:x1 * 1000, y0 * 1000:y1 * 1000]
    rings = [np.asarray(line.coords) / 1000 for geom in outlines.geometry.boundary
             for line in getattr(geom, "geoms", [geom])]
    if rings:
        xs = np.concatenate([np.r_[r[:, 0], np.nan] for r in rings]).astype(np.float32)
        ys = np.concatenate([np.r_[r[:, 1], np.nan] for r in rings]).astype(np.float32)
        fig.add_trace(go.Scatter(x=np.round(xs, 1), y=np.round(ys, 1), mode="lines", name="state outlines",
                                 line={"color": "#9e9e9e", "width": 0.8}, hoverinfo="skip"))

    ids, segs = plot.branch_segments(grid)
    segs = segs / 1000
    view, what, explain = plot.loading_view(result)
    value = view.reindex(ids).to_numpy(float)
    binding = result.branches.set_index("branch_id")["binding"].reindex(ids).fillna(False).to_numpy(bool)
    coloured = np.nan_to_num(value, nan=-1) >= COLOURED_FROM_PERCENT
    back, back_what = _background(grid, ids)
    back &= ~coloured & ~binding
    x, y = _lines(segs[back])
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"network ({back_what}, below "
                             f"{COLOURED_FROM_PERCENT:.0f} %)", line={"color": "#d4d4d4", "width": 0.6},
                             hoverinfo="skip"))

    cmap = plot.LOADING_CMAP
    bins = [(lo, hi, label, _hex(cmap((min(hi, 100.0) + lo) / 200.0)), 1.0 + 1.0 * (lo >= 80)) for lo, hi, label
            in BINS] + [(100.0 + 1e-6, np.inf, "over 100 %: over its limit without new load", plot.OVERLOAD_COLOUR,
                         2.6)]
    for lo, hi, label, colour, width in bins:
        pick = coloured & (value >= lo) & (value < hi)
        if not pick.any():
            continue
        x, y = _lines(segs[pick])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{label} ({int(pick.sum()):,})",
                                 line={"color": colour, "width": width}, hoverinfo="skip", legendgroup=label))
    if binding.any():
        x, y = _lines(segs[binding])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"binding branch ({int(binding.sum())})",
                                 line={"color": plot.BINDING_COLOUR, "width": 4.5}, hoverinfo="skip",
                                 legendgroup="binding"))

    # hover: a marker at the middle of every binding or overloaded branch, then the most loaded
    rank = np.where(binding | (np.nan_to_num(value) > 100), np.inf, np.nan_to_num(value, nan=-1))
    hover = np.flatnonzero(coloured | binding)
    hover = hover[np.argsort(-rank[hover], kind="stable")][:MAX_HOVER]
    if len(hover):
        mid = segs[hover].mean(axis=1)
        fig.add_trace(go.Scatter(
            x=np.round(mid[:, 0], 1), y=np.round(mid[:, 1], 1), mode="markers", showlegend=False,
            name="branch", marker={"size": 9, "color": "#000000", "opacity": 0.0},
            hovertext=_branch_hover(result, grid, ids[hover], value[hover], what), hoverinfo="text",
            hoverlabel={"bgcolor": "white"}))

    largest = max(float(np.nanmax(np.r_[sites["served_mw"], sites["unmet_mw"], sites["cap_mw"].fillna(0), 1.0])), 1.0)

    def diameter(mw):
        return 7 + 38 * np.sqrt(np.clip(np.asarray(mw, float), 0, None) / largest)

    unmet = sites[sites["unmet_mw"] > 0]
    if len(unmet):
        fig.add_trace(go.Scatter(
            x=unmet["x_km"], y=unmet["y_km"], mode="markers",
            name="<br>".join(plot.unmet_legend(plot.unmet_parts(result))),
            marker={"size": diameter(unmet["unmet_mw"]), "symbol": "circle-open",
                    "color": plot.UNMET_COLOUR, "line": {"width": 2}},
            hovertext=[_site_hover(r) for _, r in unmet.iterrows()], hoverinfo="text"))
    for use, (colour, _marker, label) in plot.USE_STYLE.items():
        rows = sites[sites["use"] == use]
        if len(rows) == 0:
            continue
        idle = use == "none"
        size = rows["cap_mw"].fillna(0) if idle else rows["served_mw"]
        fig.add_trace(go.Scatter(
            x=rows["x_km"], y=rows["y_km"], mode="markers", name=f"{label} ({len(rows)})",
            marker={"size": diameter(size), "symbol": SYMBOL[use], "color": colour,
                    "opacity": 0.9, "line": {"width": 1.5 if idle else 0.8, "color": colour if idle else "#303030"}},
            hovertext=[_site_hover(r) for _, r in rows.iterrows()], hoverinfo="text"))

    sliders = _year_layers(fig, result, sites, diameter) if getattr(result, "timeline", None) is not None else []

    top = plot.largest_sites(sites)
    labels = [plot.site_label(r) for _, r in top.iterrows()]
    top_shown = np.where(top["use"] == "none", top["cap_mw"].fillna(0), np.maximum(top["served_mw"], top["unmet_mw"]))
    shown = np.where(sites["use"] == "none", sites["cap_mw"].fillna(0), np.maximum(sites["served_mw"],
                                                                                    sites["unmet_mw"]))
    margin = {"l": 10, "r": 10, "t": 110 if plot.supply_text(result.summary)[0] else 90, "b": 40}
    km_per_px = max((x1 - x0) / (PAGE_PX[0] - LEGEND_PX - margin["l"] - margin["r"]),
                    (y1 - y0) / (PAGE_PX[1] - margin["t"] - margin["b"]))
    annotations = _label_annotations(top[["x_km", "y_km"]].to_numpy(float), labels, diameter(top_shown) / 2,
                                     sites[["x_km", "y_km"]].to_numpy(float), diameter(shown) / 2,
                                     np.array([sites.index.get_loc(i) for i in top.index], dtype=int), km_per_px,
                                     (x0, x1, y0, y1))

    s = result.summary
    sec = plot.security_label(result)
    tag, supply = plot.supply_text(s)
    fig.update_layout(
        title={"text": (f"<b>{html.escape(str(s.scenario or 'allocation'))} "
                        f"({', '.join([sec, *([tag] if tag else [])])}) on grid "
                        f"{html.escape(str(s.grid))}: AI served {s.served_ai_mw:,.0f} of "
                        f"{s.requested_ai_mw:,.0f} MW</b><br><span style='font-size:13px;color:#404040'>"
                        f"{html.escape(supply)}{'<br>' if tag else ' · '}mining {s.served_mining_mw:,.0f} MW · "
                        f"{s.converted_sites} conversions · "
                        f"{int(binding.sum())} binding branches · branch colour: {what} ({html.escape(explain)})"
                        f"</span>"),
               "x": 0.01, "xanchor": "left", "font": {"size": 18}},
        xaxis={"visible": False, "range": [x0, x1], "constrain": "domain"},
        yaxis={"visible": False, "range": [y0, y1], "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
        sliders=sliders,
        plot_bgcolor="white", paper_bgcolor="white", hovermode="closest", dragmode="pan",
        margin=margin,
        legend={"title": {"text": "marker area ~ MW · click to hide/show"}, "itemsizing": "constant",
                "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 12}},
        annotations=annotations + [{"text": (f"Drawn: {back_what} in grey; in colour every branch at {COLOURED_FROM_PERCENT:.0f} % "
                               f"of its limit or more; every binding branch thick. Hover a site or the middle of a "
                               f"coloured branch for details; scroll to zoom, drag to pan. Map: US Albers equal area "
                               f"(EPSG:5070), km."),
                      "xref": "paper", "yref": "paper", "x": 0, "y": -0.005, "yanchor": "top", "xanchor": "left",
                      "showarrow": False, "font": {"size": 11, "color": "#606060"}}],
    )
    return fig


SYMBOL = {"ai": "square", "ai+mining": "diamond", "mining": "triangle-up", "none": "circle-open"}


def _year_layers(fig, result, sites: pd.DataFrame, diameter) -> list[dict]:
    """A timeline's years as layers: per year, a ring around each site with new load in that
    year's state (AI and new mining, sized by MW; the last year shown first), and a slider that
    shows one year at a time. Returns the layout's ``sliders``."""
    import plotly.graph_objects as go

    years = result.summary.timeline["years"]
    first = len(fig.data)
    existing = sites["existing_mw"].fillna(0).to_numpy(float)
    for k, y in enumerate(years):
        ai = sites[f"ai_mw_{y}"].to_numpy(float)
        mining = sites[f"mining_mw_{y}"].to_numpy(float)
        new = ai + np.clip(mining - existing, 0, None)
        pick = new > 0.5
        rows = sites[pick]
        text = [f"<b>{html.escape(str(r.site_id))}</b> in {y}<br>AI {a:,.0f} MW · mining {m:,.0f} MW"
                + (f"<br>energized {int(r.first_year)}" if pd.notna(r.first_year) else "")
                for r, a, m in zip(rows.itertuples(), ai[pick], mining[pick])]
        fig.add_trace(go.Scatter(
            x=rows["x_km"], y=rows["y_km"], mode="markers", name=f"new load in {y} ({new[pick].sum():,.0f} MW)",
            visible=k == len(years) - 1, legendgroup="years",
            marker={"size": diameter(new[pick]) + 6, "symbol": "circle-open", "color": "#6a3d9a",
                    "line": {"width": 2.5}},
            hovertext=text, hoverinfo="text"))
    gap = result.summary.timeline["gap_mw"]
    steps = [{"label": str(y), "method": "restyle",
              "args": [{"visible": [j == k for j in range(len(years))]}, list(range(first, first + len(years)))],
              "name": f"{y}: gap {gap[str(y)]:,.0f} MW"} for k, y in enumerate(years)]
    return [{"active": len(years) - 1, "steps": steps, "x": 0.05, "len": 0.5, "y": 0.0, "yanchor": "top",
             "currentvalue": {"prefix": "year: ", "font": {"size": 13}}, "pad": {"t": 30}}]


def _hex(rgba) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * float(c)) for c in rgba[:3]))


def allocation_html(grid, result) -> str:
    """The allocation as one complete, self-contained HTML page (a string): plotly.js
    inlined, no script, style, font or tile from the network."""
    fig = allocation_figure(grid, result)
    return fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False,
                       config={"displaylogo": False, "scrollZoom": True, "responsive": True},
                       default_width="100%", default_height="94vh")


def hosting_figure(grid, frame):
    """The plotly figure of :func:`hosting_html`: every bus as a point, in three views chosen by
    buttons: hosting MW (with the frame's supply response), and with redispatch also the
    fixed-participation MW and the ratio between them. Colours on a log scale."""
    import plotly.graph_objects as go

    from planner.data.states import state_outlines

    ok = frame.geometry.notna().to_numpy() & np.isfinite(frame["hosting_mw"].to_numpy(float))
    f = frame[ok]
    x, y = plot.project(f.geometry.x.to_numpy(), f.geometry.y.to_numpy())
    x, y = np.round(x / 1000, 1), np.round(y / 1000, 1)
    x0, x1, y0, y1 = (v / 1000 for v in plot.map_extent(grid, pd.DataFrame({"x_m": [], "y_m": []})))
    fig = go.Figure()
    outlines = state_outlines(plot.MAP_CRS, 2000.0).cx[x0 * 1000:x1 * 1000, y0 * 1000:y1 * 1000]
    rings = [np.asarray(line.coords) / 1000 for geom in outlines.geometry.boundary
             for line in getattr(geom, "geoms", [geom])]
    fixed_traces = 0
    if rings:
        xs = np.concatenate([np.r_[r[:, 0], np.nan] for r in rings]).astype(np.float32)
        ys = np.concatenate([np.r_[r[:, 1], np.nan] for r in rings]).astype(np.float32)
        fig.add_trace(go.Scatter(x=np.round(xs, 1), y=np.round(ys, 1), mode="lines", name="state outlines",
                                 line={"color": "#9e9e9e", "width": 0.8}, hoverinfo="skip"))
        fixed_traces += 1
    ids, segs = plot.branch_segments(grid)
    back, back_what = _background(grid, ids)
    lx, ly = _lines(segs[back] / 1000)
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name=f"network ({back_what})", hoverinfo="skip",
                             line={"color": "#d4d4d4", "width": 0.6}))
    fixed_traces += 1

    redispatch = "fixed_hosting_mw" in f
    supply = str(f["supply"].iloc[0]) if "supply" in f and len(f) else "headroom"
    hover = []
    for row in f.itertuples(index=False):
        lines = [f"<b>bus {row.bus}</b> {html.escape(str(row.substation_name or ''))}", f"{row.kv:g} kV",
                 f"hosting {_num(row.hosting_mw, unit=' MW')} ({html.escape(supply)})"]
        if redispatch:
            lines += [f"fixed participation {_num(row.fixed_hosting_mw, unit=' MW')}",
                      f"ratio {_num(row.redispatch_ratio, '.2f', 'x')}",
                      (f"redispatch needed {_num(row.redispatch_mw, unit=' MW')} "
                      f"({_num(row.redispatch_95_mw, unit=' MW')} at 95 %)")]
        limit = f"limited by {html.escape(str(row.limited_by))}"
        if not pd.isna(row.limiting_branch):
            limit += f": branch {row.limiting_branch}"
            if "limiting_outage" in f and not pd.isna(row.limiting_outage):
                limit += f" after outage of {row.limiting_outage}"
        hover.append("<br>".join(lines + [limit]))

    views = [("hosting MW" + (" with redispatch" if redispatch else ""), f["hosting_mw"].to_numpy(float), "MW")]
    if redispatch:
        views += [("fixed-participation MW", f["fixed_hosting_mw"].to_numpy(float), "MW"),
                  ("ratio redispatch / fixed", f["redispatch_ratio"].to_numpy(float), "x")]
    for i, (name, value, unit) in enumerate(views):
        v = np.log10(np.clip(np.nan_to_num(value, nan=1.0), 1.0, None))   # under 1 MW (or 1x) at the bottom
        hi = max(float(v.max()) if len(v) else 1.0, 0.3)
        ticks = [t for t in ([1, 10, 100, 1000, 10000] if unit == "MW" else [1, 1.25, 1.5, 2, 3, 5, 10])
                 if np.log10(t) <= hi + 1e-9]
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name=name, visible=i == 0, hovertext=hover, hoverinfo="text",
            marker={"size": 4 + 0.008 * f["kv"].to_numpy(float), "color": v, "cmin": 0.0, "cmax": hi,
                    "colorscale": "Viridis" if unit == "MW" else "Plasma",
                    "colorbar": {"title": {"text": name}, "tickvals": np.log10(ticks).tolist(),
                                 "ticktext": [f"{t:,g}{'' if unit == 'MW' else 'x'}" for t in ticks]}}))
    n = len(views)
    buttons = [{"label": name, "method": "update",
                "args": [{"visible": [True] * fixed_traces + [j == i for j in range(n)]}]}
               for i, (name, _, _) in enumerate(views)]
    security = str(f["security"].iloc[0]).upper() if "security" in f and len(f) else "N-0"
    fig.update_layout(
        title={"text": f"Hosting capacity of every bus, {security}, supply: {html.escape(supply)} — grid "
                       f"{html.escape(grid.name)} ({len(f):,} buses)", "y": 0.985, "yanchor": "top"},
        updatemenus=[{"buttons": buttons, "direction": "right", "x": 0.0, "y": 1.0, "xanchor": "left",
                      "yanchor": "bottom", "type": "buttons", "pad": {"b": 6}}] if n > 1 else [],
        xaxis={"visible": False, "range": [x0, x1]}, yaxis={"visible": False, "range": [y0, y1], "scaleanchor": "x"},
        plot_bgcolor="#ffffff", legend={"orientation": "h", "y": -0.02}, margin={"l": 10, "r": 10, "t": 110, "b": 10},
        hovermode="closest")
    return fig


def hosting_html(grid, frame) -> str:
    """The hosting map as one self-contained HTML page (plotly.js inlined; nothing fetched)."""
    return hosting_figure(grid, frame).to_html(include_plotlyjs=True, full_html=True, include_mathjax=False,
                                               config={"displaylogo": False, "scrollZoom": True,
                                                       "responsive": True},
                                               default_width="100%", default_height="94vh")
