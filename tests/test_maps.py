"""The maps: map.html is self-contained and renders offline in a real browser (headless
Chromium) without console errors; map.png and hosting.png say what they show (N-0 /
N-1, the use), show loadings over 100 % in a colour of their own, label the largest
sites, and are drawn in the US equal-area projection."""

from __future__ import annotations

import copy
import io as stdio
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

import planner
from planner import io, plot, webmap

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it "
                             "with apt-get when apt is usable)")

#: a script put first in a copy of the page: it records uncaught errors, rejected
#: promises, console.error calls, resources that failed to load and every URL fetched
#: from outside the file, as attributes of <html> that --dump-dom shows
PROBE = """<script>(function () {
  var errors = [], root = document.documentElement;
  function note(m) { errors.push(String(m)); root.setAttribute("data-probe-errors", JSON.stringify(errors)); }
  window.addEventListener("error", function (e) {
    note(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href))));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () { note("console.error: " + Array.prototype.join.call(arguments, " "));
                                return original.apply(console, arguments); };
  window.addEventListener("load", function () { setTimeout(function () {
    var external = performance.getEntriesByType("resource").map(function (r) { return r.name; })
      .filter(function (n) { return !/^(file|data|blob|about):/.test(n); });
    root.setAttribute("data-probe-external", JSON.stringify(external));
    root.setAttribute("data-probe-done", "1");
  }, 0); });
})();</script>"""

#: how this Chromium logs console messages to stderr with --enable-logging=stderr --v=0:
#: ``[pid:tid:date:INFO:CONSOLE:1] "Uncaught ReferenceError: L is not defined", source: file:///…``
#: (every console level is logged as INFO here; older builds log errors as ERROR:CONSOLE)
CONSOLE_LINE = re.compile(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE(?:\(\d+\))?[:\]].*")
CONSOLE_ERROR = re.compile(r"ERROR:CONSOLE|Uncaught|Error|error|Failed to load|is not defined")


@pytest.fixture(scope="module")
def texas():
    """A solved texas run (N-0), as ``planner solve texas`` makes it (~4 s)."""
    prep, result = planner.run_scenario(planner.load_scenario("texas"))
    return prep.grid, result


@pytest.fixture(scope="module")
def texas_n1(texas):
    """The texas result relabelled N-1, with hand-made post-contingency loadings: the
    first rated branch at 150 % of its rating after an outage (125 % of a 1.2x
    emergency rating: an overload), the second at 60 % (50 % of the emergency rating)."""
    grid, result = texas
    res = copy.copy(result)
    res.summary = dict(result.summary, security="n-1", n_1={"emergency_rating_factor": 1.2})
    b = result.branches.copy()
    b["n1_loading_percent"] = b["loading_percent"]
    b["n1_worst_outage_branch_id"] = pd.array([pd.NA] * len(b), dtype="Int64")
    rated = np.flatnonzero(b["monitored"].to_numpy() & np.isfinite(b["loading_percent"].to_numpy())
                           & (b["loading_percent"].to_numpy() < 40) & ~b["binding"].to_numpy())
    b.loc[b.index[rated[0]], ["n1_loading_percent", "n1_worst_outage_branch_id"]] = [150.0, 1]
    b.loc[b.index[rated[1]], "n1_loading_percent"] = 60.0
    res.branches = b
    return grid, res, int(b.loc[b.index[rated[0]], "branch_id"]), int(b.loc[b.index[rated[1]], "branch_id"])


@pytest.fixture(scope="module")
def map_html(texas, tmp_path_factory):
    grid, result = texas
    return io.write_html(plot.allocation_html(grid, result), tmp_path_factory.mktemp("html") / "map.html")


# --------------------------------------------------------------------------- helpers


def _chromium(url: str, *extra: str, tmp: Path) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` with every host name unresolvable (no network)."""
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={tmp / 'profile'}", *extra, url]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)


def _browser_errors(page: Path, tmp: Path) -> tuple[list[str], str]:
    """Console errors of ``page`` in headless Chromium and the DOM after its scripts ran:
    the console lines of Chromium's log, plus what :data:`PROBE` recorded."""
    text = page.read_text(encoding="utf-8")
    probed = tmp / f"probed_{page.name}"
    head = re.search(r"<head[^>]*>", text, flags=re.IGNORECASE)
    cut = head.end() if head else 0
    probed.write_text(text[:cut] + PROBE + text[cut:], encoding="utf-8")
    run = _chromium(probed.as_uri(), "--dump-dom", tmp=tmp)
    dom = run.stdout
    errors = [m.group(0) for m in map(CONSOLE_LINE.search, run.stderr.splitlines()) if m
              and CONSOLE_ERROR.search(m.group(0))]
    root = re.search(r"<html[^>]*>", dom)
    attrs = dict(re.findall(r'(data-probe-[a-z]+)="([^"]*)"', root.group(0))) if root else {}
    if attrs.get("data-probe-done") != "1":
        errors.append(f"the page did not finish loading (exit {run.returncode}): {run.stderr[-2000:]}")
    errors += json.loads(attrs.get("data-probe-errors", "[]").replace("&quot;", '"'))
    errors += [f"fetched {u}" for u in json.loads(attrs.get("data-probe-external", "[]").replace("&quot;", '"'))]
    return errors, dom


# --------------------------------------------------------------------------- map.html


def test_html_is_self_contained(map_html):
    """No script, style, font or image from the network: plotly.js is inlined."""
    page = map_html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<html") or page.lstrip().lower().startswith("<!doctype html")
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page, flags=re.IGNORECASE)
    remote = [t for t in tags if re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", t, flags=re.IGNORECASE)]
    assert remote == []
    assert "@import" not in page.split("</head>")[0]
    assert len(page) > 3_000_000  # plotly.js itself (~4.8 MB) is in the file
    assert "leaflet" not in page.lower() and "folium" not in page.lower()


def test_html_shows_every_binding_branch_sites_and_hover(texas):
    grid, result = texas
    fig = webmap.allocation_figure(grid, result)
    traces = {t.name: t for t in fig.data}
    binding_ids = result.branches.loc[result.branches["binding"], "branch_id"]
    n_binding = len(plot.branch_segments(grid, binding_ids)[0])
    assert n_binding == int(result.branches["binding"].sum()) > 0
    line = traces[f"binding branch ({n_binding})"]
    assert np.isnan(np.asarray(line.y, float)).sum() == n_binding  # one gap after each segment
    hover = next(t for t in fig.data if t.name == "branch")
    texts = "\n".join(hover.hovertext)
    for bid in binding_ids:
        assert f"<b>branch {int(bid)}</b>" in texts
    assert "binding</b>: shadow price $" in texts and "MW rating" in texts
    sites = result.allocation[result.allocation["use"] != "not_modelled"]
    site_text = "\n".join(h for t in fig.data if t.hovertext is not None and t.name != "branch"
                          for h in t.hovertext)
    for _, row in sites.iterrows():
        assert row["name"] in site_text and row["site_id"] in site_text
    assert "operator" in site_text and "one more MW of interconnection worth" in site_text
    labels = [a.text for a in fig.layout.annotations]
    top = plot.largest_sites(plot.site_table(result))
    assert len(top) == plot.LABELLED_SITES
    for name in top["name"]:
        assert any(label.startswith(name + ":") for label in labels)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert "(N-0)" in fig.layout.title.text


@needs_chromium
def test_html_renders_in_chromium_without_console_errors(map_html, texas, tmp_path):
    """Open map.html offline in headless Chromium: the plot is drawn (plotly's SVG with
    its traces), the console has no error, nothing is fetched, the screenshot is not blank."""
    errors, dom = _browser_errors(map_html, tmp_path)
    assert errors == []
    assert dom.count('class="main-svg"') >= 2
    assert len(re.findall(r'class="trace scatter', dom)) >= 8  # states, network, bins, binding, sites...
    largest = plot.largest_sites(plot.site_table(texas[1]))["name"].iloc[0]
    assert f">{largest}: " in dom  # a site label, drawn as SVG text

    shot = tmp_path / "map.png"
    run = _chromium(map_html.as_uri(), f"--screenshot={shot}", "--window-size=1400,900", tmp=tmp_path)
    assert shot.exists(), run.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert pixels.std() > 0.05 and len(colours) > 200  # a drawn map, not a blank page


@needs_chromium
def test_browser_check_catches_a_real_console_error(tmp_path):
    """The check above would fail on the old folium page's failure ('L is not defined')
    and on a console.error call; and it sees a script fetched from the network."""
    page = tmp_path / "broken.html"
    page.write_text('<html><head></head><body><div id="map"></div><script>var map = L.map("map");</script>'
                    '</body></html>')
    errors, _ = _browser_errors(page, tmp_path)
    assert any("L is not defined" in e for e in errors), errors
    assert any("Uncaught" in e for e in errors), errors  # from Chromium's own console log
    page.write_text('<html><head><script src="https://cdn.example.invalid/leaflet.js"></script></head><body>'
                    '<script>console.error("deliberate")</script></body></html>')
    errors, _ = _browser_errors(page, tmp_path)
    assert any("console.error: deliberate" in e for e in errors), errors
    assert any("leaflet.js" in e for e in errors), errors


# --------------------------------------------------------------------------- map.png


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts] \
        + [ax.get_title() for ax in fig.axes]


def _draw_strict(fig) -> bytes:
    """Render to PNG with every warning an error (e.g. a glyph missing from the font)."""
    buf = stdio.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(buf, format="png")
    return buf.getvalue()


def test_png_is_projected_labelled_and_tight(texas):
    grid, result = texas
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot.allocation_map(grid, result)
    assert _draw_strict(fig)[:4] == b"\x89PNG"
    ax = fig.axes[0]
    # EPSG:5070 metres, not degrees: the Texas grid spans about 1,200 km east-west from about 830 km west
    # of the projection's central meridian (96° W)
    x0, x1 = ax.get_xlim()
    assert -950_000 < x0 < -750_000 and 1_000_000 < x1 - x0 < 1_400_000
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    buses_x, _ = plot.project(grid.buses.geometry.x, grid.buses.geometry.y)
    assert (x1 - x0) / (buses_x.max() - buses_x.min()) < 1.1  # margin under 5 % a side
    texts = _texts(fig)
    top = plot.largest_sites(plot.site_table(result))
    largest = result.allocation.loc[(result.allocation["ai_mw"] + result.allocation["mining_mw"]).idxmax(), "name"]
    assert any(t.startswith(largest + ":") for t in texts)
    assert sum(any(t.startswith(n + ":") for t in texts) for n in top["name"]) == len(top) == 8
    assert any("(N-0)" in t for t in texts)


def test_png_n1_title_and_colour_bar_show_overloads(texas_n1):
    grid, result, over_id, low_id = texas_n1
    view, what, explain = plot.loading_view(result)
    assert view[over_id] == pytest.approx(125.0)  # 150 % of rating after an outage / 1.2
    assert view[low_id] == pytest.approx(max(50.0, result.branches.set_index("branch_id").loc[
        low_id, ["loading_percent", "offpeak_loading_percent"]].max()))
    assert "N-1" in what and "1.2 × rating" in explain
    fig = plot.allocation_map(grid, result)
    _draw_strict(fig)
    texts = _texts(fig)
    assert any(t.startswith("texas (N-1)") for t in texts)
    assert any("% of N-1 limit" in t for t in texts)
    assert any("> 100 %" in t for t in texts) and any("worst 125 %" in t for t in texts)
    lc = next(c for c in fig.axes[0].collections if isinstance(c, LineCollection) and c.get_array() is not None)
    assert to_hex(lc.to_rgba(125.0)) == plot.OVERLOAD_COLOUR
    assert to_hex(lc.to_rgba(100.0)) != plot.OVERLOAD_COLOUR != to_hex(lc.to_rgba(0.0))
    colorbar = lc.colorbar
    assert colorbar is not None and colorbar.extend == "max"


def test_html_n1_says_so(texas_n1):
    grid, result, over_id, _ = texas_n1
    fig = webmap.allocation_figure(grid, result)
    assert "(N-1)" in fig.layout.title.text and "% of N-1 limit" in fig.layout.title.text
    over = [t for t in fig.data if t.name and t.name.startswith("over 100 %")]
    assert len(over) == 1 and over[0].line.color == plot.OVERLOAD_COLOUR
    hover = "\n".join(next(t for t in fig.data if t.name == "branch").hovertext)
    assert f"<b>branch {over_id}</b>" in hover and "N-1: worst 150 % of rating after outage of branch 1" in hover


def test_hosting_map_says_security_and_use(texas):
    grid, _ = texas
    buses = grid.buses
    frame = pd.DataFrame({"bus": buses.index, "kv": buses["kv"].to_numpy(),
                          "hosting_mw": np.linspace(0.5, 2000, len(buses)), "security": "n-1", "use": "mining"})
    frame = gpd.GeoDataFrame(frame, geometry=buses.geometry.to_numpy(), crs=buses.crs)
    fig = plot.hosting_map(grid, frame)
    _draw_strict(fig)
    texts = _texts(fig)
    assert any(t.startswith("Hosting capacity of every bus, N-1, flexible mining load") for t in texts)
    label = next(ax.get_ylabel() for ax in fig.axes if ax.get_ylabel())
    assert "N-1" in label and "flexible mining load" in label and "log scale" in label
    x0, x1 = fig.axes[0].get_xlim()
    assert x1 - x0 > 1_000_000  # metres (EPSG:5070), not degrees
