"""Maps (matplotlib, no network access needed). Figures are returned, not written:
:mod:`planner.io` writes them. The interactive map is :mod:`planner.viz.webmap`.

Every map is drawn in the US equal-area projection (EPSG:5070, metres): areas and
distances look as they are, which plain longitude/latitude axes do not.
The data preparation shared with the HTML map (projection, what a branch colour
means, which sites get a label) lives here too.
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from planner.optimization.summary import Summary

#: projection of every map: CONUS Albers equal area (NAD83), metres
MAP_CRS = "EPSG:5070"
#: one font for every text, shipped with matplotlib (has the glyphs we print: – · ≥ ×)
FONT = "DejaVu Sans"
#: sites labelled by name on the PNG and the HTML map
LABELLED_SITES = 8

USE_STYLE = {  # use -> (colour, marker, label)
    "ai": ("#2166ac", "s", "AI"),
    "ai+mining": ("#01665e", "D", "AI + mining"),
    "mining": ("#f08c00", "^", "bitcoin mining"),
    "none": ("#8c8c8c", "o", "nothing (site idle)"),
}
UNMET_COLOUR = "#e31a1c"
BINDING_COLOUR = "#67001f"
#: a branch over 100 % of its limit (they exist before any new load): a colour of its own
OVERLOAD_COLOUR = "#c51b7d"
#: branch loading 0-100 %: grey while it does not matter, then yellow, orange, red
LOADING_CMAP = LinearSegmentedColormap.from_list(
    "planner_loading", [(0.0, "#e0e0e0"), (0.5, "#bdbdbd"), (0.7, "#fed976"), (0.85, "#fd8d3c"),
                        (1.0, "#d7301f")])


# --------------------------------------------------------------------------- data shared with the HTML map


@lru_cache(maxsize=1)
def _transformer():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", MAP_CRS, always_xy=True)


def project(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (EPSG:4326, degrees) to map coordinates (EPSG:5070, metres)."""
    return _transformer().transform(np.asarray(lon, float), np.asarray(lat, float))


def branch_segments(grid, branch_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """(branch ids, segments) of the branches that have a geometry: segments is an
    (n, 2, 2) array of end points in map coordinates (metres)."""
    geoms = grid.branches.geometry if branch_ids is None else grid.branches.geometry.reindex(branch_ids)
    ok = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    ids = geoms.index.to_numpy()[ok]
    coords, index = shapely.get_coordinates(geoms[ok].to_numpy(), return_index=True)
    first = np.r_[0, np.flatnonzero(np.diff(index)) + 1]
    last = np.r_[first[1:] - 1, len(index) - 1]
    ends = coords[np.stack([first, last], axis=1)]  # (n, 2, 2): lon/lat of both ends
    x, y = project(ends[..., 0], ends[..., 1])
    return ids, np.stack([x, y], axis=-1)


def loading_view(result) -> tuple[pd.Series, str, str]:
    """What the colour of a branch shows: (percent of its limit by branch id, short
    name, long explanation). N-0: the worst of peak and off-peak flow against the
    rating. N-1: that, or the worst flow after any single outage against the emergency
    rating (factor x rating), whichever is higher — so 100 % is the limit the plan
    respects in both cases and more than 100 % is an overload that exists without the
    new load. Unmonitored branches (no rating in the data) are NaN."""
    b = result.branches.set_index("branch_id")
    parts = [b["loading_percent"]]
    if "offpeak_loading_percent" in b:
        parts.append(b["offpeak_loading_percent"])
    factor = None
    if result.summary.security == "n-1" and "n1_loading_percent" in b:
        factor = float((result.summary.n_1 or {}).get("emergency_rating_factor") or 1.0)
        parts.append(b["n1_loading_percent"] / factor)
    value = pd.concat(parts, axis=1).max(axis=1, skipna=True).where(b["monitored"].astype(bool))
    if factor is None:
        return value, "loading, % of rating (N-0)", "worst of peak and off-peak flow, % of the branch rating"
    explain = (f"worst of: flow without outage vs rating, flow after any single outage vs emergency rating "
               f"({factor:g} × rating)")
    return value, "loading, % of N-1 limit", explain


def security_label(result) -> str:
    return "N-1" if result.summary.security == "n-1" else "N-0"


def _not_served_here(sites: pd.DataFrame) -> np.ndarray:
    """Per site: the AI MW requested there and not served there (under 0.5 MW: 0)."""
    requested = sites["requested_mw"].fillna(0).to_numpy(float) if "requested_mw" in sites else np.zeros(len(sites))
    gap = np.clip(requested - sites["ai_mw"].fillna(0).to_numpy(float), 0, None)
    return np.where(gap < 0.5, 0.0, gap)


def site_table(result) -> pd.DataFrame:
    """Modelled sites with map coordinates (x_m, y_m), served MW and ``unmet_mw``: the AI MW
    requested at the site and not served there (see :func:`unmet_parts`)."""
    alloc = result.allocation
    sites = pd.DataFrame(alloc[alloc["use"] != "not_modelled"].drop(columns="geometry", errors="ignore"))
    sites["x_m"], sites["y_m"] = project(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    sites["served_mw"] = (sites["ai_mw"] + sites["mining_mw"]).to_numpy(float)
    sites["unmet_mw"] = _not_served_here(sites)
    return sites


def unmet_parts(result) -> dict:
    """The AI MW not served, counted two ways, and what separates them (MW):

    - ``unmet_mw``: the summary's ``unmet_ai_mw``, AI demand unmet: AI requested in all less
      AI served anywhere. AI demand is met per region, so AI served at a site without a
      request (a mine converted to AI) serves requests made elsewhere in its region.
    - ``not_served_at_site_mw``: the AI MW requested at a site and not served at that site,
      summed over the sites on the map: the red circles.
    - ``served_elsewhere_mw``: how much of that is served at other sites (sites without a
      request, or beyond a site's request);
    - ``requested_without_site_mw``: AI requested at no site on the map (a request not
      modelled, or demand given per region only): unmet, but not drawn.

    so ``unmet_mw = not_served_at_site_mw - served_elsewhere_mw + requested_without_site_mw``.
    """
    s = result.summary
    alloc = result.allocation
    sites = alloc[alloc["use"] != "not_modelled"]
    at_sites = float(_not_served_here(sites).sum())
    requested_here = float(sites["requested_mw"].fillna(0).sum()) if "requested_mw" in sites else 0.0
    without_site = max(float(s.requested_ai_mw or 0.0) - requested_here, 0.0)
    unmet = float(s.unmet_ai_mw or 0.0)
    return {"unmet_mw": unmet, "not_served_at_site_mw": at_sites,
            "served_elsewhere_mw": max(at_sites + without_site - unmet, 0.0),
            "requested_without_site_mw": without_site}


def unmet_legend(parts: dict) -> list[str]:
    """The lines of the legend entry of the red circles (PNG and HTML): the MW they show and,
    when it differs, how it becomes the AI demand unmet that the console and summary.json
    report (``unmet_ai_mw``)."""
    if abs(parts["not_served_at_site_mw"] - parts["unmet_mw"]) < 0.5:
        return [f"AI demand unmet (requested at a site, not served there): {parts['unmet_mw']:,.0f} MW"]
    lines = [f"AI requested at a site, not served there: {parts['not_served_at_site_mw']:,.0f} MW"]
    if parts["served_elsewhere_mw"] >= 0.5:
        lines.append(f"{parts['served_elsewhere_mw']:,.0f} MW of it served at sites without a request")
    if parts["requested_without_site_mw"] >= 0.5:
        lines.append(f"plus {parts['requested_without_site_mw']:,.0f} MW requested at no site on the map")
    return lines + [f"AI demand unmet: {parts['unmet_mw']:,.0f} MW"]


def supply_text(summary: Summary) -> tuple[str, str]:
    """(tag for the title, phrase for the subtitle) of the run's supply response: a
    redispatch run says so in both."""
    kind = (summary.network or {}).get("supply_response") or "headroom"
    r = summary.redispatch  # the block of a supply response that redispatches
    if not r:
        return "", f"supply: {kind}"
    moved = (r.get("moved_mw") or {}).get("peak")
    try:
        cost = r["generation_cost_usd_per_h"]["peak"] - r["reference_generation_cost_usd_per_h"]["peak"]
    except (KeyError, TypeError):
        cost = None
    detail = ", ".join(([f"{moved:,.0f} MW moved at peak"] if moved is not None else [])
                       + ([f"generation cost {cost:+,.0f} $/h"] if cost is not None else []))
    return "redispatch", "redispatch run: generators redispatched to supply the new load" + (
        f" ({detail})" if detail else "")


def largest_sites(sites: pd.DataFrame, n: int = LABELLED_SITES) -> pd.DataFrame:
    """The sites worth a label, largest first: about two thirds by MW served, the rest
    by AI MW requested there and not served (until ``n`` sites)."""
    served = sites[sites["served_mw"] > 0.5].sort_values("served_mw", ascending=False, kind="stable")
    unmet = sites[sites["unmet_mw"] > 0].sort_values("unmet_mw", ascending=False, kind="stable")
    n_served = max(n - max(n // 3, n - len(served)) if len(unmet) else n, 0)
    pick = list(served.index[:n_served])
    pick += [i for i in unmet.index if i not in pick][: n - len(pick)]
    pick += [i for i in served.index if i not in pick][: n - len(pick)]
    return sites.loc[pick]


def site_label(row) -> str:
    """``Childress: AI 220 of 270 MW + mining 2 MW``, ``Rockdale (Riot): 700 MW``."""
    name = row.get("name")
    name = name if isinstance(name, str) and name else str(row.get("site_id", "site"))  # a file without names
    if row.get("requested_mw", 0) and row["requested_mw"] > 0.5:
        text = f"{name}: AI {row['ai_mw']:,.0f} of {row['requested_mw']:,.0f} MW"
        return text + (f" + mining {row['mining_mw']:,.0f} MW" if row["mining_mw"] > 0.5 else "")
    return f"{name}: {row['served_mw']:,.0f} MW"


def map_extent(grid, sites: pd.DataFrame, margin: float = 0.03) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) in map metres: every bus and site, plus ``margin`` of the span."""
    pts = grid.buses.geometry
    pts = pts[pts.notna() & ~pts.is_empty]
    x, y = project(pts.x.to_numpy(), pts.y.to_numpy())
    x = np.concatenate([x, sites["x_m"].to_numpy()])
    y = np.concatenate([y, sites["y_m"].to_numpy()])
    x0, x1, y0, y1 = np.nanmin(x), np.nanmax(x), np.nanmin(y), np.nanmax(y)
    pad = margin * max(x1 - x0, y1 - y0, 1e4)
    return x0 - pad, x1 + pad, y0 - pad, y1 + pad


def _sizes(mw, largest):
    return 14 + 420 * np.clip(np.asarray(mw, float), 0, None) / max(largest, 1.0)


# --------------------------------------------------------------------------- matplotlib layout


def _map_figure(extent, map_width_in: float = 8.8, panel_in: float = 2.9, title_in: float = 0.75,
                sub: str | None = None):
    """A figure sized to the map's aspect: the map on the left (no axis ticks), a panel
    on the right for the colour bar and the legend, room for a title on top (with ``sub``:
    room for the head and every line of that subtitle, as :func:`_title` wraps it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    x0, x1, y0, y1 = extent
    aspect = (y1 - y0) / (x1 - x0)
    map_h = float(np.clip(map_width_in * aspect, 4.8, 9.0))
    map_w = map_h / aspect if map_width_in * aspect > 9.0 or map_width_in * aspect < 4.8 else map_width_in
    width = map_w + panel_in + 0.3
    if sub is not None:
        title_in = 0.52 + 0.155 * len(_wrap_sub(sub, width).splitlines())
    height = map_h + title_in + 0.15
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)  # a renderer, to place labels without overlap
    ax = fig.add_axes((0.1 / width, 0.1 / height, map_w / width, map_h / height))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_edgecolor("#bdbdbd")
    panel = ((map_w + 0.35) / width, 0.1 / height, (panel_in - 0.2) / width, map_h / height)  # x, y, w, h
    return fig, ax, panel


def _wrap_sub(sub: str, width_in: float) -> str:
    """A subtitle wrapped to a figure ``width_in`` wide, each of its lines on its own."""
    return "\n".join(textwrap.fill(line, int(width_in * 14.5)) for line in sub.splitlines())


def _title(fig, head: str, sub: str) -> None:
    fig.text(0.012, 1 - 0.16 / fig.get_figheight(), head, ha="left", va="top", fontsize=12.5, fontweight="bold",
             family=FONT)
    fig.text(0.012, 1 - 0.45 / fig.get_figheight(), _wrap_sub(sub, fig.get_figwidth()), ha="left",
             va="top", fontsize=9, color="#404040", family=FONT)


def _states(ax, extent, **kw) -> None:
    from planner.data.states import state_outlines

    x0, x1, y0, y1 = extent
    outlines = state_outlines(MAP_CRS, 1000.0)
    outlines = outlines.cx[x0:x1, y0:y1]
    segs = [np.asarray(line.coords) for geom in outlines.geometry.boundary
            for line in getattr(geom, "geoms", [geom])]
    ax.add_collection(LineCollection(segs, colors=kw.get("color", "#9e9e9e"), linewidths=kw.get("lw", 0.6),
                                     zorder=0))


def _scale_bar(ax, extent) -> None:
    x0, x1, y0, y1 = extent
    span_km = (x1 - x0) / 1000 / 5
    length_km = next(v for v in (1000, 500, 400, 300, 200, 100, 50, 20, 10) if v <= max(span_km, 10))
    bx, by = x1 - (x1 - x0) * 0.03 - length_km * 1000, y0 + (y1 - y0) * 0.03
    ax.plot([bx, bx + length_km * 1000], [by, by], color="#404040", lw=2.5, solid_capstyle="butt", zorder=6)
    ax.text(bx + length_km * 500, by + (y1 - y0) * 0.008, f"{length_km:,} km", ha="center", va="bottom",
            fontsize=8, color="#404040", family=FONT, zorder=6)
    ax.text(bx + length_km * 1000, by - (y1 - y0) * 0.008, "US Albers equal area (EPSG:5070)", ha="right",
            va="top", fontsize=6.5, color="#707070", family=FONT, zorder=6)


#: label positions around a marker: directions (x, y), tried in this order at each distance
#: (beside, then the corners, then above and below); the corners sit on a square around the
#: marker, so a label never covers its own marker
DIRECTIONS = [(1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1)]
#: distances of the label from the edge of its marker, points: next to it first, then farther
#: out with a leader line
RINGS_PT = [5.0, 14.0, 26.0, 42.0, 62.0, 86.0]
#: cost of a candidate position: what it overlaps (a label, a marker's centre, leaving the map,
#: the scale bar, a marker's body) and how far from its marker it is (a ring farther out costs
#: less than covering part of another marker)
COST = {"label": 1000.0, "centre": 200.0, "outside": 500.0, "obstacle": 100.0, "body": 30.0, "ring": 4.0}


def box_at(px: float, py: float, ox: float, oy: float, w: float, h: float) -> tuple:
    """(x0, y0, x1, y1) of a w x h text box anchored at (px + ox, py + oy), aligned away
    from the point: left-aligned when ox > 0, right-aligned when ox < 0, centred at 0."""
    x = px + ox - (0.0 if ox > 0 else w if ox < 0 else w / 2)
    y = py + oy - (0.0 if oy > 0 else h if oy < 0 else h / 2)
    return x, y, x + w, y + h


def place_boxes(points: np.ndarray, radii: np.ndarray, sizes: np.ndarray, labelled: np.ndarray,
                rings: list[float], frame: tuple | None = None, obstacles: list | None = None,
                gap: float = 2.0) -> list[tuple]:
    """Greedy label placement in display units (y up): for each labelled marker in turn (the
    indexes ``labelled`` into ``points``), the candidate box (``DIRECTIONS`` at each of
    ``rings`` beyond the marker's radius) of least :data:`COST`: it overlaps no label placed
    before it, no marker's centre (``points``), the edge of no marker (``radii``) and no
    ``obstacles`` ((x0, y0, x1, y1) boxes) if it can, and stays within ``frame``. ``sizes``:
    the (w, h) of each label. Returns (ring index, ox, oy, box) per label, where (ox, oy) is
    the anchor's offset from its point (see :func:`box_at`)."""
    points = np.asarray(points, float).reshape(-1, 2)
    radii = np.asarray(radii, float)
    bodies = np.column_stack([points - radii[:, None], points + radii[:, None]])  # x0, y0, x1, y1
    obstacles = np.asarray(obstacles or [], float).reshape(-1, 4)
    placed = np.empty((0, 4))
    out = []
    for k, (w, h) in zip(labelled, sizes):
        px, py = points[k]
        others = np.arange(len(points)) != k
        best = None
        for ring, extra in enumerate(rings):
            d = radii[k] + extra
            for j, (ux, uy) in enumerate(DIRECTIONS):
                ox, oy = ux * d, uy * d
                x0, y0, x1, y1 = box_at(px, py, ox, oy, w, h)
                cost = COST["ring"] * ring + 0.01 * j
                if len(placed):
                    cost += COST["label"] * np.sum((placed[:, 0] < x1 + gap) & (x0 - gap < placed[:, 2])
                                                   & (placed[:, 1] < y1 + gap) & (y0 - gap < placed[:, 3]))
                cost += COST["centre"] * np.sum(others & (points[:, 0] > x0 - gap) & (points[:, 0] < x1 + gap)
                                                & (points[:, 1] > y0 - gap) & (points[:, 1] < y1 + gap))
                cost += COST["body"] * np.sum(others & (bodies[:, 0] < x1) & (x0 < bodies[:, 2])
                                              & (bodies[:, 1] < y1) & (y0 < bodies[:, 3]))
                if len(obstacles):
                    cost += COST["obstacle"] * np.sum((obstacles[:, 0] < x1) & (x0 < obstacles[:, 2])
                                                      & (obstacles[:, 1] < y1) & (y0 < obstacles[:, 3]))
                if frame is not None and not (x0 >= frame[0] and y0 >= frame[1] and x1 <= frame[2]
                                              and y1 <= frame[3]):
                    cost += COST["outside"]
                if best is None or cost < best[0]:
                    best = (cost, ring, ox, oy, (x0, y0, x1, y1))
            if best[0] < COST["ring"] * (ring + 1):  # nothing farther out can be better
                break
        placed = np.vstack([placed, best[4]])
        out.append(best[1:])
    return out


def _place_labels(fig, ax, rows: pd.DataFrame, sizes_pt2: np.ndarray, sites: pd.DataFrame,
                  site_sizes_pt2: np.ndarray) -> list:
    """Label each site of ``rows`` (largest first) beside its marker, where the label covers
    no other label, no marker's centre and as little of any marker (every site of ``sites``)
    and of the scale bar as it can (:func:`place_boxes`, in display pixels); a label moved
    away from its marker gets a leader line. The texts have gid ``site-label``."""
    import matplotlib.patheffects as pe

    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72
    f = ax.get_window_extent(renderer)
    obstacles = [tuple(a.get_window_extent(renderer).extents) for a in [*ax.texts, *ax.lines]]
    points = ax.transData.transform(np.column_stack([sites["x_m"].to_numpy(float), sites["y_m"].to_numpy(float)]))
    radii = np.sqrt(np.asarray(site_sizes_pt2, float)) / 2 * px_per_pt
    index = pd.Index(sites.index)
    labelled = np.array([index.get_loc(i) for i in rows.index], dtype=int)
    radii[labelled] = np.maximum(radii[labelled], np.sqrt(np.asarray(sizes_pt2, float)) / 2 * px_per_pt)
    style = {"fontsize": 8, "family": FONT, "color": "#202020", "zorder": 7,
             "path_effects": [pe.withStroke(linewidth=2.5, foreground="white")]}
    labels = [site_label(row) for _, row in rows.iterrows()]
    sizes = []
    for label in labels:
        probe = ax.text(0, 0, label, **style)
        box = probe.get_window_extent(renderer)
        sizes.append((box.width, box.height))
        probe.remove()
    choice = place_boxes(points, radii, np.asarray(sizes), np.asarray(labelled), [v * px_per_pt for v in RINGS_PT],
                         frame=(f.x0, f.y0, f.x1, f.y1), obstacles=obstacles)
    texts = []
    for (_, row), label, k, (ring, ox, oy, _) in zip(rows.iterrows(), labels, labelled, choice):
        arrow = {"arrowstyle": "-", "color": "#404040", "lw": 0.7, "shrinkA": 0,
                 "shrinkB": radii[k] / px_per_pt} if ring > 0 else None
        texts.append(ax.annotate(label, (row["x_m"], row["y_m"]), xytext=(ox / px_per_pt, oy / px_per_pt),
                                 textcoords="offset points", ha="left" if ox > 0 else "right" if ox < 0 else "center",
                                 va="bottom" if oy > 0 else "top" if oy < 0 else "center", arrowprops=arrow,
                                 gid="site-label", **style))
    return texts


# --------------------------------------------------------------------------- the maps


HOSTING_USE = {"ai": "firm AI load", "mining": "flexible mining load"}


def hosting_map(grid, frame, title: str | None = None):
    """Buses coloured by hosting capacity (log scale) over the grid's branches; the title
    and colour bar say the security level and the use (``frame`` columns ``security``
    and ``use``, as :func:`planner.network.hosting.security_hosting` writes them)."""
    security = str(frame["security"].iloc[0]).upper() if "security" in frame and len(frame) else "N-0"
    use = HOSTING_USE.get(str(frame["use"].iloc[0]), str(frame["use"].iloc[0])) if "use" in frame and len(frame) \
        else HOSTING_USE["ai"]
    ok = frame.geometry.notna().to_numpy() & np.isfinite(frame["hosting_mw"].to_numpy())
    f = frame[ok]
    x, y = project(f.geometry.x.to_numpy(), f.geometry.y.to_numpy())
    nothing = pd.DataFrame({"x_m": [], "y_m": []})
    extent = map_extent(grid, nothing)
    fig, ax, panel = _map_figure(extent)
    _states(ax, extent)
    ax.add_collection(LineCollection(branch_segments(grid)[1], colors="#c8c8c8", linewidths=0.3, zorder=1))
    values = np.clip(f["hosting_mw"].to_numpy(), 1.0, None)
    order = np.argsort(-values)  # the scarce (low) buses drawn on top
    sc = ax.scatter(x[order], y[order], c=values[order], s=5 + 0.02 * f["kv"].to_numpy()[order], cmap="viridis",
                    norm=LogNorm(vmin=max(values.min(), 1.0) if len(values) else 1.0,
                                 vmax=max(values.max(), 10.0) if len(values) else 10.0),
                    zorder=2, linewidths=0)
    _scale_bar(ax, extent)
    px, py, pw, ph = panel
    cax = fig.add_axes((px + 0.05 * pw, py + 0.08 * ph, 0.09 * pw, 0.84 * ph))
    cbar = fig.colorbar(sc, cax=cax)
    cbar.set_label(f"hosting capacity, MW\n({security}, {use}, log scale)", family=FONT, fontsize=9.5)
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    cbar.ax.tick_params(labelsize=8.5)
    median = float(np.median(f["hosting_mw"])) if len(f) else float("nan")
    none = int(np.sum(f["hosting_mw"].to_numpy() < 1.0))
    supply = str(frame["supply"].iloc[0]) if "supply" in frame and len(frame) else "headroom"
    _title(fig, title or f"Hosting capacity of every bus, {security}, {use}, supply: {supply} — grid {grid.name}",
           f"largest new {use} each bus alone can take"
           + (", branches within emergency ratings after any single outage" if security == "N-1"
              else ", branches within their ratings")
           + f" · {len(f):,} buses, median {median:,.0f} MW"
           + (f", {none:,} under 1 MW" if none else "")
           )
    return fig


def hosting_ratio_map(grid, frame, title: str | None = None):
    """Redispatch against fixed participation (``frame`` from ``security_hosting(...,
    slack="redispatch")``): buses coloured by the ratio of their hosting MW with redispatch to the
    MW with new load picked up in proportion to headroom (log scale), and beside the map, by
    voltage level, the median MW of both (bars) with the median ratio."""
    security = str(frame["security"].iloc[0]).upper() if len(frame) else "N-0"
    use = HOSTING_USE.get(str(frame["use"].iloc[0]), str(frame["use"].iloc[0])) if len(frame) else HOSTING_USE["ai"]
    ratio = frame["redispatch_ratio"].to_numpy(float)
    ok = frame.geometry.notna().to_numpy() & np.isfinite(frame["hosting_mw"].to_numpy())
    f, r = frame[ok], ratio[ok]
    x, y = project(f.geometry.x.to_numpy(), f.geometry.y.to_numpy())
    extent = map_extent(grid, pd.DataFrame({"x_m": [], "y_m": []}))
    fig, ax, panel = _map_figure(extent, panel_in=3.6)
    _states(ax, extent)
    ax.add_collection(LineCollection(branch_segments(grid)[1], colors="#c8c8c8", linewidths=0.3, zorder=1))
    fin = np.isfinite(r)
    top = max(float(np.max(r[fin])) if fin.any() else 2.0, 1.5)
    order = np.argsort(r[fin])   # the largest gains drawn on top
    sc = ax.scatter(x[fin][order], y[fin][order], c=np.clip(r[fin][order], 1.0, None), s=5 + 0.02 *
                    f["kv"].to_numpy()[fin][order], cmap="plasma", norm=LogNorm(vmin=1.0, vmax=top), zorder=2,
                    linewidths=0)
    zero = ~fin
    if zero.any():
        ax.scatter(x[zero], y[zero], s=14, facecolors="none", edgecolors="#00a0a0", linewidths=0.8, zorder=3,
                   label=f"{int(zero.sum()):,} buses that host nothing with a fixed participation")
        ax.legend(loc="lower left", fontsize=8, frameon=False, prop={"family": FONT, "size": 8})
    _scale_bar(ax, extent)
    px, py, pw, ph = panel
    cax = fig.add_axes((px + 0.02 * pw, py + 0.52 * ph, 0.07 * pw, 0.44 * ph))
    cbar = fig.colorbar(sc, cax=cax)
    cbar.set_label("redispatch / fixed participation\n(hosting MW, log scale)", family=FONT, fontsize=9)
    ticks = [t for t in (1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100) if t <= top * (1 + 1e-9)]
    cbar.set_ticks(ticks, labels=[f"{t:g}x" for t in ticks])
    cbar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    cbar.ax.tick_params(labelsize=8.5)
    # by voltage level: median MW of both, the median ratio beside the bars
    by = f.assign(ratio=r).groupby("kv")
    kv = np.array(sorted(by.groups))
    med_fixed = by["fixed_hosting_mw"].median().reindex(kv).to_numpy()
    med_red = by["hosting_mw"].median().reindex(kv).to_numpy()
    med_ratio = by["ratio"].median().reindex(kv).to_numpy()
    bx = fig.add_axes((px + 0.30 * pw, py + 0.04 * ph, 0.50 * pw, 0.40 * ph))
    pos = np.arange(len(kv))
    bx.barh(pos + 0.2, med_fixed, height=0.38, color="#9e9e9e", label="fixed participation")
    bx.barh(pos - 0.2, med_red, height=0.38, color="#6a00a8", label="redispatch")
    bx.set_yticks(pos, [f"{v:g} kV" for v in kv], fontsize=8, family=FONT)
    bx.invert_yaxis()
    bx.tick_params(axis="x", labelsize=7.5)
    bx.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bx.set_xlabel("median hosting MW by voltage level", fontsize=8, family=FONT)
    for side in ("top", "right"):
        bx.spines[side].set_visible(False)
    right = max(np.nanmax(med_red) if len(kv) else 1.0, 1.0)
    for i, q in enumerate(med_ratio):
        bx.text(right * 1.04, i, f"{q:.2f}x" if np.isfinite(q) else "–", va="center", fontsize=7.5, family=FONT)
    bx.set_xlim(0, right * 1.3)
    bx.legend(loc="upper center", bbox_to_anchor=(0.5, 1.16), ncol=2, fontsize=7.5, frameon=False,
              prop={"family": FONT, "size": 7.5})
    total = f["hosting_mw"].sum() / max(f["fixed_hosting_mw"].sum(), 1e-9)
    _title(fig, title or f"Hosting with redispatch vs a fixed participation, {security}, {use} — grid {grid.name}",
           "the MW each bus alone can take when the generators may be redispatched within their limits, as a "
           "multiple of the MW when new load is picked up in proportion to generation headroom"
           + (" (branches within emergency ratings after any single outage)" if security == "N-1" else "")
           + f" · {len(f):,} buses, median {np.nanmedian(r) if fin.any() else float('nan'):.2f}x, "
           f"{total:.2f}x in all")
    return fig


def allocation_map(grid, result, title: str | None = None):
    """The allocation on a map: US state outlines, branches coloured by loading against
    their limit (over 100 % in a colour of its own; binding ones thick), sites by use and
    size with the largest labelled (no label on another label or a marker's centre), the AI
    requested at a site and not served there as dashed circles (the legend reconciles their MW
    with the AI demand unmet of the summary: :func:`unmet_legend`). The title says N-0/N-1 and a
    redispatch run; the subtitle the supply response."""
    from matplotlib.lines import Line2D

    sites = site_table(result)
    extent = map_extent(grid, sites)
    ids, segs = branch_segments(grid)
    loading_all, what, explain = loading_view(result)
    loading = loading_all.reindex(ids).to_numpy(float)
    binding = result.branches.set_index("branch_id")["binding"].reindex(ids).fillna(False).to_numpy(bool)

    s = result.summary
    name = s.scenario or "allocation"
    tag, supply = supply_text(s)
    head = title or (f"{name} ({', '.join([security_label(result), *([tag] if tag else [])])}) on grid "
                     f"{s.grid}: AI served {s.served_ai_mw:,.0f} of {s.requested_ai_mw:,.0f} MW")
    sub = (f"{supply}\n" if tag else f"{supply} · ") + (
        f"mining {s.served_mining_mw:,.0f} MW · {s.converted_sites} conversions · "
        f"{int(binding.sum())} binding branches · colour: {what}")
    fig, ax, panel = _map_figure(extent, sub=sub)
    _states(ax, extent)
    rated = np.isfinite(loading)
    ax.add_collection(LineCollection(segs[~rated], colors="#e8e8e8", linewidths=0.25, zorder=1))
    order = np.flatnonzero(rated)[np.argsort(loading[rated])]  # heavily loaded branches drawn last
    cmap = LOADING_CMAP.with_extremes(over=OVERLOAD_COLOUR)
    norm = Normalize(0, 100)
    lw = 0.3 + 0.8 * (loading[order] >= 80) + 1.2 * (loading[order] > 100 + 1e-6)
    lc = LineCollection(segs[order], array=loading[order], cmap=cmap, norm=norm, linewidths=lw, zorder=1)
    ax.add_collection(lc)
    if binding.any():
        ax.add_collection(LineCollection(segs[binding], colors=BINDING_COLOUR, linewidths=2.8, zorder=2))

    largest = max(float(np.nanmax(np.r_[sites["served_mw"], sites["unmet_mw"], sites["cap_mw"].fillna(0), 1.0])),
                  1.0)
    handles = []
    for use, (colour, marker, label) in USE_STYLE.items():
        rows = sites[sites["use"] == use]
        if len(rows) == 0:
            continue
        size = rows["cap_mw"].fillna(0) if use == "none" else rows["served_mw"]
        ax.scatter(rows["x_m"], rows["y_m"], s=_sizes(size, largest), c=colour if use != "none" else "none",
                   edgecolors="#303030" if use != "none" else colour, marker=marker, linewidths=0.7,
                   alpha=0.9, zorder=4)
        handles.append(Line2D([], [], marker=marker, linestyle="", color=colour, label=f"{label} ({len(rows)})",
                              markerfacecolor=colour if use != "none" else "none",
                              markeredgecolor="#303030" if use != "none" else colour, markersize=8))
    unmet = sites[sites["unmet_mw"] > 0]
    if len(unmet):
        ax.scatter(unmet["x_m"], unmet["y_m"], s=_sizes(unmet["unmet_mw"], largest), facecolors="none",
                   edgecolors=UNMET_COLOUR, linewidths=1.3, linestyle="--", zorder=3)
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                              markeredgecolor=UNMET_COLOUR, markersize=10,
                              label=textwrap.fill("; ".join(unmet_legend(unmet_parts(result))), 36)))
    over = int(np.sum(loading[rated] > 100 + 1e-6))
    handles.append(Line2D([], [], color=BINDING_COLOUR, linewidth=2.8, label=f"binding branch ({int(binding.sum())})"))
    handles.append(Line2D([], [], color=OVERLOAD_COLOUR, linewidth=2.0,
                          label=f"over its limit already\nwithout new load ({over})"))

    top = largest_sites(sites)
    top_size = np.where(top["use"] == "none", top["cap_mw"].fillna(0), np.maximum(top["served_mw"], top["unmet_mw"]))
    order = np.argsort(-top_size, kind="stable")  # the largest sites choose their place first
    top, top_size = top.iloc[order], top_size[order]
    shown = np.where(sites["use"] == "none", sites["cap_mw"].fillna(0), np.maximum(sites["served_mw"],
                                                                                    sites["unmet_mw"]))
    _scale_bar(ax, extent)  # before the labels: they keep off it
    _place_labels(fig, ax, top, _sizes(top_size, largest), sites, _sizes(shown, largest))

    px, py, pw, ph = panel
    inch = 1 / fig.get_figheight()
    top_y = py + ph
    fig.text(px, top_y, f"branch {what}", ha="left", va="top", fontsize=9.5, family=FONT)
    bar_h = min(2.4 * inch, 0.34 * ph)
    cax = fig.add_axes((px + 0.05 * pw, top_y - 0.3 * inch - bar_h, 0.09 * pw, bar_h))
    cbar = fig.colorbar(lc, cax=cax, extend="max", extendfrac=0.22, extendrect=True)
    cbar.set_ticks([0, 20, 40, 60, 80, 100])
    cbar.ax.tick_params(labelsize=8)
    worst = float(np.nanmax(loading)) if rated.any() else 0.0
    cax.text(1.0, 1.11, "  > 100 %", transform=cax.transAxes, va="center", ha="left", fontsize=8.5,
             family=FONT, color=OVERLOAD_COLOUR, fontweight="bold")
    over_text = (f"> 100 %: over its limit without any new load ({over} branch{'es' if over > 1 else ''}, "
                 f"worst {worst:,.0f} %)"
                 if over else "> 100 %: over its limit (no branch)")
    fig.text(px, top_y - 0.45 * inch - bar_h, textwrap.fill(f"{explain}.", 42) + "\n"
             + textwrap.fill(over_text, 42), ha="left", va="top", fontsize=7.2, family=FONT, color="#505050",
             linespacing=1.3)
    lax = fig.add_axes((px, py, pw, max(top_y - 1.5 * inch - bar_h - py, 0.3 * ph)))
    lax.set_axis_off()
    lax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, title="marker area ~ MW",
               title_fontsize=8.5, prop={"family": FONT, "size": 8}, borderaxespad=0)

    _title(fig, head.replace("$", "\\$"), sub.replace("$", "\\$"))  # "\$": a dollar sign, not mathtext
    return fig


#: timeline chart: served at converted mines, served elsewhere, unmet
TIMELINE_STYLE = {"ai_at_converted_mines_mw": ("#01665e", "AI at converted mines"),
                  "served_elsewhere_mw": ("#2166ac", "AI at other sites"),
                  "unmet_ai_mw": (UNMET_COLOUR, "unmet AI demand")}


def timeline_chart(result, most_sites: int = 25):
    """The timeline of a plan (``result.timeline``): a stacked area of AI served at converted
    mines, served at other sites and unmet, per year (GW); and a Gantt chart of the sites that
    get new load: a bar from the year each is energized to the last year, labelled with its MW in
    the last year (the ``most_sites`` largest; the title says how many are left out)."""
    table = result.timeline
    years = sorted(table["year"].unique())
    by = table.groupby("year")[["served_ai_mw", "ai_at_converted_mines_mw", "unmet_ai_mw"]].sum().reindex(years)
    by["served_elsewhere_mw"] = (by["served_ai_mw"] - by["ai_at_converted_mines_mw"]).clip(lower=0)
    alloc = result.allocation
    end = years[-1]
    built = alloc[alloc["first_year"].notna()].copy()
    built["end_mw"] = built[f"ai_mw_{end}"] + built[f"mining_mw_{end}"] - built["existing_mw"].fillna(0).clip(
        upper=built[f"mining_mw_{end}"])
    # the largest sites, in the order they are energized
    shown = built.nlargest(most_sites, "end_mw").sort_values(["first_year", "end_mw"], ascending=[True, False])
    fig = Figure(figsize=(11, 4.2 + 0.22 * max(len(shown), 4)), dpi=110)
    grid_spec = fig.add_gridspec(2, 1, height_ratios=[3.2, 0.22 * max(len(shown), 4) + 0.6], hspace=0.35)
    ax = fig.add_subplot(grid_spec[0])
    cols = list(TIMELINE_STYLE)
    # each year spans [year, year + 1): the same axis as the Gantt chart below
    x = [*years, years[-1] + 1]
    ax.stackplot(x, *[np.r_[by[c].to_numpy(), by[c].to_numpy()[-1]] / 1000 for c in cols], step="post",
                 colors=[TIMELINE_STYLE[c][0] for c in cols], labels=[TIMELINE_STYLE[c][1] for c in cols], alpha=0.9)
    ax.set_xticks(x, [str(y) for y in x], family=FONT)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("GW (AI demand requested)", family=FONT)
    ax.legend(loc="upper left", frameon=False, prop={"family": FONT, "size": 9})
    s = result.summary
    ax.set_title(f"{s.scenario or ''}: AI served and unmet in each year (GW)",
                 loc="left", family=FONT, fontsize=11)
    gx = fig.add_subplot(grid_spec[1])
    colour = np.where(shown["current_use"].isin(["bitcoin", "conversion"]), TIMELINE_STYLE["ai_at_converted_mines_mw"][0],
                      TIMELINE_STYLE["served_elsewhere_mw"][0])
    last = years[-1] + 1
    for k, r in enumerate(shown.itertuples()):
        start = int(r.first_year)
        gx.barh(k, max(last - start, 0.3), left=start, color=colour[k], height=0.7)
        mw = getattr(r, f"ai_mw_{end}")
        text = f"{r.site_id}  {mw:,.0f} MW AI" if mw > 0 else f"{r.site_id}  new mining"
        gx.text(min(start, last) + 0.05, k, text, va="center", fontsize=8, family=FONT, color="white"
                if last - start >= 2 else "black")
    gx.set_yticks([])
    gx.invert_yaxis()
    gx.set_xlim(years[0], max(last, int(shown["first_year"].max()) + 1 if len(shown) else last))
    ax.set_xlim(gx.get_xlim())
    gx.set_xticks(range(years[0], int(gx.get_xlim()[1]) + 1))
    gx.set_xlabel("year energized (bars run to the end of the last year)", family=FONT)
    left_out = len(built) - len(shown)
    gx.set_title(f"site energizations ({len(shown)} of {len(built)} sites with new load"
                 + (f"; {left_out} smaller left out" if left_out else "") + ")", loc="left", family=FONT, fontsize=10)
    return fig


#: operators chart: what a bar segment is -> (colour, hatch, label)
OPERATOR_STYLE = {"mining_mw": ("#f08c00", "", "mining"),
                  "ai_lease_mw": ("#2166ac", "", "AI, leased (powered shell)"),
                  "ai_cloud_mw": ("#762a83", "", "AI, own cloud (GPUs)"),
                  "ai_blocked_by_network_mw": ("white", "////", "AI the network stops"),
                  "ai_blocked_by_pool_mw": ("white", "....", "AI the supply pools stop")}


def operators_chart(result):
    """Per operator with a modelled site (``result.operators``): stacked horizontal bars of its MW by
    path (mining, AI lease, AI cloud), then the AI MW the network and the supply pools stop
    (hatched), each bar labelled with the value created ($ B) and $/W; the operators with no site
    on the modelled grid are named below."""
    from planner.analysis.operators import NOT_ON_GRID

    ops = result.operators
    shown = ops[ops["status"] != NOT_ON_GRID].iloc[::-1]
    absent = ops.loc[ops["status"] == NOT_ON_GRID, "operator"].tolist()
    cols = [c for c in OPERATOR_STYLE if c in shown]
    height = 2.0 + 0.38 * max(len(shown), 3) + (0.35 if absent else 0)
    fig = Figure(figsize=(10.5, height), dpi=110)
    ax = fig.add_axes((0.25, (0.55 + (0.35 if absent else 0)) / height, 0.62, 1 - (1.6 + (0.35 if absent else 0))
                       / height))
    y = np.arange(len(shown))
    left = np.zeros(len(shown))
    for c in cols:
        colour, hatch, label = OPERATOR_STYLE[c]
        mw = shown[c].to_numpy(float) / 1000
        ax.barh(y, mw, left=left, color=colour, hatch=hatch, edgecolor="#404040" if hatch else colour,
                linewidth=0.6 if hatch else 0, height=0.68, label=label)
        left += mw
    for k, r in enumerate(shown.itertuples()):
        # "\$": a literal dollar sign, not matplotlib's mathtext
        text = f"\\${r.value_usd / 1e9:,.2f} B" + (f" · {r.usd_per_w:.2f} \\$/W" if np.isfinite(r.usd_per_w) else "")
        ax.text(left[k] + left.max(initial=0.0) * 0.01, k, text, va="center", fontsize=8, family=FONT, color="#303030")
    ax.set_yticks(y, [f"{r.operator} ({r.sites_modelled})".replace("$", "\\$") for r in shown.itertuples()],
                  family=FONT, fontsize=9)
    ax.set_xlim(0, max(left.max(initial=0.0), 0.1) * 1.3)
    ax.set_xlabel("GW (sites modelled in brackets)", family=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=3, frameon=False, prop={"family": FONT, "size": 8})
    s = result.summary
    fig.text(0.012, 1 - 0.16 / height, f"{s.scenario or s.grid}: MW by path per operator, value "
             "created and \\$/W", ha="left", va="top", fontsize=12, fontweight="bold", family=FONT)
    if absent:
        fig.text(0.012, 0.12 / height, textwrap.fill(f"{NOT_ON_GRID}: " + ", ".join(map(str, absent)), 150)
                 .replace("$", "\\$"), ha="left",
                 va="bottom", fontsize=8.5, color="#404040", family=FONT)
    return fig
