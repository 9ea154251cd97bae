"""Maps (matplotlib, no network access needed). Figures are returned, not written:
:mod:`planner.io` writes them."""

from __future__ import annotations

import numpy as np
import shapely
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


def _figure(figsize, dpi):
    """A figure outside pyplot: no GUI backend needed, nothing global to close, and it
    still displays in a notebook."""
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots()


def _branch_segments(grid):
    geoms = grid.branches.geometry
    ok = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    coords = shapely.get_coordinates(geoms[ok].to_numpy()).reshape(-1, 2, 2)
    return coords


def hosting_map(grid, frame, title: str | None = None):
    """Buses coloured by hosting capacity (log scale) over the grid's branches."""
    fig, ax = _figure((10, 8), 110)
    ax.add_collection(LineCollection(_branch_segments(grid), colors="#bbbbbb", linewidths=0.3, zorder=1))
    ok = frame.geometry.notna().to_numpy() & np.isfinite(frame["hosting_mw"].to_numpy())
    f = frame[ok]
    values = np.clip(f["hosting_mw"].to_numpy(), 1.0, None)
    sc = ax.scatter(f.geometry.x, f.geometry.y, c=values, s=6 + 0.02 * f["kv"].to_numpy(),
                    cmap="viridis", norm=LogNorm(vmin=max(values.min(), 1.0), vmax=max(values.max(), 10.0)),
                    zorder=2, linewidths=0)
    fig.colorbar(sc, ax=ax, shrink=0.7, label="hosting capacity, MW (N-0, log scale)")
    ax.set_aspect(1.0 / np.cos(np.deg2rad(np.nanmean(f.geometry.y))) if len(f) else 1.0)
    ax.autoscale()
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title or f"Hosting capacity of every bus — grid {grid.name}")
    fig.tight_layout()
    return fig


USE_STYLE = {  # use -> (colour, marker, label)
    "ai": ("#6a3d9a", "s", "AI"),
    "ai+mining": ("#1f78b4", "D", "AI + mining"),
    "mining": ("#ff7f00", "^", "bitcoin mining"),
    "none": ("#999999", "o", "nothing (site idle)"),
}


def _extent(grid, allocation, margin_deg: float = 0.6):
    pts = grid.buses.geometry
    pts = pts[pts.notna() & ~pts.is_empty]
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    ok = allocation["use"].to_numpy() != "not_modelled"
    x = np.concatenate([x, allocation["lon"].to_numpy(float)[ok]])
    y = np.concatenate([y, allocation["lat"].to_numpy(float)[ok]])
    return (np.nanmin(x) - margin_deg, np.nanmax(x) + margin_deg, np.nanmin(y) - margin_deg,
            np.nanmax(y) + margin_deg)


def _sizes(mw, largest):
    return 12 + 400 * np.sqrt(np.clip(mw, 0, None) / max(largest, 1.0))


def allocation_map(grid, result, title: str | None = None):
    """The allocation on a map: US state outlines, branches coloured by loading
    (binding ones thick), sites by use and size, unmet AI requests as open circles."""
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    from planner.states import us_states

    alloc = result.allocation
    x0, x1, y0, y1 = _extent(grid, alloc)
    fig, ax = _figure((11, 8.5), 110)
    states = us_states().cx[x0:x1, y0:y1]
    states.boundary.plot(ax=ax, color="#8c8c8c", linewidth=0.6, zorder=0)

    geoms = grid.branches.geometry
    seg_ok = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    segs = shapely.get_coordinates(geoms[seg_ok].to_numpy()).reshape(-1, 2, 2)
    table = result.branches.set_index("branch_id")
    loading = table["loading_percent"].reindex(grid.branches.index[seg_ok]).to_numpy(float)
    binding = table["binding"].reindex(grid.branches.index[seg_ok]).fillna(False).to_numpy(bool)
    loading = np.nan_to_num(loading, nan=0.0)
    order = np.argsort(loading)  # heavily loaded branches drawn last
    norm = Normalize(0, 100)
    lc = LineCollection(segs[order], array=np.clip(loading[order], 0, 100), cmap="YlOrRd", norm=norm,
                        linewidths=0.25 + 0.9 * (loading[order] > 80), zorder=1)
    ax.add_collection(lc)
    if binding.any():
        ax.add_collection(LineCollection(segs[binding], colors="#b10026", linewidths=2.6, zorder=2))
    fig.colorbar(lc, ax=ax, shrink=0.6, label="branch loading, % of rating (N-0)")

    served = (alloc["ai_mw"] + alloc["mining_mw"]).to_numpy(float)
    largest = max(float(np.nanmax(np.r_[served, alloc["cap_mw"].fillna(0).to_numpy(float), 1.0])), 1.0)
    handles = []
    for use, (colour, marker, label) in USE_STYLE.items():
        rows = alloc[alloc["use"] == use]
        if len(rows) == 0:
            continue
        size = rows["cap_mw"].fillna(0).to_numpy(float) if use == "none" else \
            (rows["ai_mw"] + rows["mining_mw"]).to_numpy(float)
        ax.scatter(rows["lon"], rows["lat"], s=_sizes(size, largest), c=colour if use != "none" else "none",
                   edgecolors=colour, marker=marker, linewidths=1.0, alpha=0.85, zorder=4)
        handles.append(Line2D([], [], marker=marker, linestyle="", color=colour, label=f"{label} ({len(rows)})",
                              markerfacecolor=colour if use != "none" else "none", markersize=8))
    if "requested_mw" in alloc:
        unmet = alloc["requested_mw"].fillna(0).to_numpy(float) - alloc["ai_mw"].to_numpy(float)
        rows = alloc[unmet > 0.5]
        if len(rows):
            ax.scatter(rows["lon"], rows["lat"], s=_sizes(unmet[unmet > 0.5], largest), facecolors="none",
                       edgecolors="#e31a1c", linewidths=1.4, linestyle="--", zorder=3)
            handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                                  markeredgecolor="#e31a1c", markersize=10,
                                  label=f"request not served at its site ({unmet[unmet > 0.5].sum():,.0f} MW)"))
    handles.append(Line2D([], [], color="#b10026", linewidth=2.6, label=f"binding branch ({int(binding.sum())})"))
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9, title="marker area ~ MW")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.deg2rad((y0 + y1) / 2)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    s = result.summary
    ax.set_title(title or (f"{s.get('scenario') or 'allocation'} on grid {s['grid']}: AI served "
                           f"{s['served_ai_mw']:,.0f} of {s['requested_ai_mw']:,.0f} MW, mining "
                           f"{s['served_mining_mw']:,.0f} MW, {s['converted_sites']} conversions"), fontsize=10)
    fig.tight_layout()
    return fig


def allocation_html(grid, result):
    """An interactive map (folium), or None when folium is not installed: sites with
    their allocation, binding and heavily loaded branches."""
    try:
        import folium
    except ImportError:
        return None
    alloc = result.allocation
    located = alloc[alloc["use"] != "not_modelled"]
    centre = [float(located["lat"].mean()), float(located["lon"].mean())] if len(located) else [39.0, -98.0]
    fmap = folium.Map(location=centre, zoom_start=6 if len(located) and np.ptp(located["lon"]) < 15 else 4,
                      tiles="OpenStreetMap")
    table = result.branches
    hot = table[table["monitored"] & (table["loading_percent"] >= 90)]
    geoms = grid.branches.geometry.reindex(hot["branch_id"])
    lines = folium.FeatureGroup(name="branches at 90 % or more of rating")
    for row, geom in zip(hot.itertuples(), geoms):
        if geom is None or geom.is_empty:
            continue
        (xa, ya), (xb, yb) = shapely.get_coordinates(geom)[[0, -1]]
        folium.PolyLine([(ya, xa), (yb, xb)], color="#b10026" if row.binding else "#fd8d3c",
                        weight=4 if row.binding else 2,
                        tooltip=(f"branch {row.branch_id}: {row.flow_mw:,.0f} MW, {row.loading_percent:.0f} % of "
                                 f"{row.rate_mw:,.0f} MW; shadow price ${row.shadow_price_usd_per_mw:,.0f}/MW")
                        ).add_to(lines)
    lines.add_to(fmap)
    sites = folium.FeatureGroup(name="sites")
    for row in located.itertuples():
        colour = USE_STYLE.get(row.use, ("#999999",))[0]
        mw = float(row.ai_mw + row.mining_mw)
        folium.CircleMarker(
            [row.lat, row.lon], radius=4 + 14 * np.sqrt(max(mw, 1.0) / 2000.0), color=colour, fill=True,
            fill_opacity=0.7 if mw > 0 else 0.0,
            tooltip=(f"{row.site_id} ({row.name}): {row.use}; AI {row.ai_mw:,.0f} MW, mining {row.mining_mw:,.0f} "
                     f"MW of {row.cap_mw:,.0f}; value ${row.value_usd / 1e6:,.0f}M; one more MW of interconnection "
                     f"worth ${row.marginal_value_usd_per_mw:,.0f}"),
        ).add_to(sites)
    sites.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap
