"""Maps (matplotlib, no network access needed). Figures are returned, not written:
:mod:`planner.io` writes them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm


def _branch_segments(grid):
    geoms = grid.branches.geometry
    ok = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    coords = shapely.get_coordinates(geoms[ok].to_numpy()).reshape(-1, 2, 2)
    return coords


def hosting_map(grid, frame, title: str | None = None):
    """Buses coloured by hosting capacity (log scale) over the grid's branches."""
    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
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
