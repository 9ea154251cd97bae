"""The maps: map.html is self-contained and renders offline in a real browser (headless
Chromium) without console errors; map.png and hosting.png say what they show (N-0 /
N-1, the use), show loadings over 100 % in a colour of their own, label the largest
sites, and are drawn in the US equal-area projection."""

from __future__ import annotations

import copy
import dataclasses
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
from planner import io
from planner.viz import plot, webmap

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
    res.summary = dataclasses.replace(result.summary, security="n-1", n_1={"emergency_rating_factor": 1.2})
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
    return io.write_html(webmap.allocation_html(grid, result), tmp_path_factory.mktemp("html") / "map.html")


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


# --------------------------------------------------------------------------- legends, labels and warnings agree with the numbers


def _mw(text: str, before: str) -> float:
    """The MW figure that follows ``before`` in ``text`` (legend or console line; line breaks as spaces)."""
    flat = " ".join(text.replace("<br>", " ").split())
    m = re.search(re.escape(before) + r"\s*([\d,]+) MW", flat)
    assert m, f"no '{before} N MW' in {flat!r}"
    return float(m.group(1).replace(",", ""))


def _unmet_legend_png(fig) -> str:
    lax = fig.axes[-1]
    texts = [" ".join(t.get_text().split()) for t in lax.get_legend().get_texts()]  # wrapped: one line again
    return next(t for t in texts if "not served there" in t)


def _result_from_run(run_dir: Path):
    """A result read back from a run directory: what the maps draw (summary, allocation, branches)."""
    from types import SimpleNamespace

    return SimpleNamespace(summary=planner.Summary.from_dict(json.loads((run_dir / "summary.json").read_text())),
                           allocation=pd.read_csv(run_dir / "allocation.csv"),
                           branches=pd.read_csv(run_dir / "branches.csv"))


def test_unmet_legend_equals_the_summary_and_the_console(texas):
    """The red circles' legend (PNG and HTML) gives the MW they show and the AI demand unmet
    of summary.json (unmet_ai_mw), and the console's 'AI demand unmet' row gives the same
    numbers in the same words: on texas, AI served at converted mines (no request there)
    serves demand requested elsewhere, so the two differ."""
    from planner import cli

    grid, result = texas
    s = result.summary
    parts = plot.unmet_parts(result)
    circles = plot.site_table(result)["unmet_mw"].sum()
    assert parts["not_served_at_site_mw"] == pytest.approx(circles)
    assert parts["unmet_mw"] == s.unmet_ai_mw
    assert parts["served_elsewhere_mw"] > 500  # texas: the two numbers differ
    # the identity the legend and the console state
    assert parts["unmet_mw"] == pytest.approx(parts["not_served_at_site_mw"] - parts["served_elsewhere_mw"]
                                              + parts["requested_without_site_mw"], abs=0.01)
    console = cli.unmet_line(result)
    legend_png = _unmet_legend_png(plot.allocation_map(grid, result))
    legend_html = next(t.name for t in webmap.allocation_figure(grid, result).data
                       if t.name and "not served there" in t.name)
    for legend in (legend_png, legend_html):
        assert _mw(legend, "AI demand unmet:") == round(s.unmet_ai_mw)
        assert _mw(legend, "AI requested at a site, not served there:") == round(circles)
        assert f"{parts['served_elsewhere_mw']:,.0f} MW of it served at sites without a request" \
            in " ".join(legend.replace("<br>", " ").split())
    assert _mw(console, "") == round(s.unmet_ai_mw)  # the row's value: AI demand unmet
    assert _mw(console, "requested at a site, not served there:") == round(circles)
    assert f"{parts['served_elsewhere_mw']:,.0f} MW of it served at sites without a request" in console


def test_unmet_legend_when_the_numbers_agree(texas):
    """When every MW not served at its site is unmet demand, one number, named as both."""
    _, result = texas
    parts = dict(plot.unmet_parts(result), not_served_at_site_mw=1234.0, unmet_mw=1234.0, served_elsewhere_mw=0.0)
    assert plot.unmet_legend(parts) == ["AI demand unmet (requested at a site, not served there): 1,234 MW"]


def _png_label_check(fig) -> tuple[int, list[str]]:
    """Draw ``fig``; (number of site labels, problems): a label box (display pixels, from the
    renderer) that overlaps another label's box or holds the centre of a site marker."""
    from matplotlib.collections import PathCollection

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "site-label"]
    boxes = [t.get_window_extent(renderer) for t in labels]
    centres = np.concatenate([ax.transData.transform(c.get_offsets()) for c in ax.collections
                              if isinstance(c, PathCollection)])
    problems = []
    tol = 1.0  # px
    for i, (a, box) in enumerate(zip(labels, boxes)):
        for b, other in zip(labels[i + 1:], boxes[i + 1:]):
            if box.overlaps(other):
                problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
        inside = ((centres[:, 0] > box.x0 + tol) & (centres[:, 0] < box.x1 - tol)
                  & (centres[:, 1] > box.y0 + tol) & (centres[:, 1] < box.y1 - tol))
        if inside.any():
            problems.append(f"{a.get_text()!r} covers the centre of {int(inside.sum())} marker(s)")
        frame = ax.get_window_extent(renderer)
        if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
            problems.append(f"{a.get_text()!r} leaves the map")
    return len(labels), problems


def test_png_labels_sit_on_no_label_and_no_marker(texas):
    grid, result = texas
    n, problems = _png_label_check(plot.allocation_map(grid, result))
    assert n == plot.LABELLED_SITES
    assert problems == []


def test_place_boxes_moves_a_label_off_a_crowd():
    """The greedy placement: a label whose every near position holds a marker's centre goes
    farther out; two labels of markers side by side do not overlap."""
    w, h, r, ring0 = 40.0, 10.0, 4.0, 2.0
    near = [plot.box_at(0, 0, ux * (r + ring0), uy * (r + ring0), w, h) for ux, uy in plot.DIRECTIONS]
    # a marker in the middle of each position next to the first one
    points = np.array([[0.0, 0.0]] + [[(x0 + x1) / 2, (y0 + y1) / 2] for x0, y0, x1, y1 in near])
    radii = np.full(len(points), 1.0)
    radii[0] = r
    (ring, ox, oy, box), = plot.place_boxes(points, radii, np.array([[w, h]]), np.array([0]),
                                            [ring0, 12.0, 30.0, 60.0])
    x0, y0, x1, y1 = box
    assert ring > 0
    assert not ((points[1:, 0] > x0) & (points[1:, 0] < x1) & (points[1:, 1] > y0) & (points[1:, 1] < y1)).any()
    two = plot.place_boxes(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([3.0, 3.0]),
                           np.array([[50.0, 10.0], [50.0, 10.0]]), np.array([0, 1]), [2.0, 12.0])
    (a, b) = (two[0][3], two[1][3])
    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@needs_chromium
def test_html_labels_sit_on_no_label_and_no_marker(map_html, texas, tmp_path):
    """In Chromium at 1400 x 900: no site label's box (as drawn, from the DOM) overlaps another
    or holds the centre of a site marker."""
    grid, result = texas
    fig = webmap.allocation_figure(grid, result)
    site_names = {f"{label} (" for _, _, label in plot.USE_STYLE.values()}
    site_traces = [k for k, t in enumerate(fig.data) if t.name and (any(t.name.startswith(n) for n in site_names)
                                                                   or "not served there" in t.name)]
    run = _chromium(map_html.as_uri(), "--dump-dom", "--window-size=1400,900", tmp=tmp_path)
    dom = run.stdout
    ox, oy = map(float, re.search(r'<g class="xy" transform="translate\(([-\d.]+),\s*([-\d.]+)\)"', dom).groups())
    chunks = dom.split('<g class="trace scatter')[1:]
    assert len(chunks) == len(fig.data)
    centres = np.array([(float(x) + ox, float(y) + oy) for k in site_traces
                        for x, y in re.findall(r'class="point" transform="translate\(([-\d.]+),\s*([-\d.]+)\)"',
                                               chunks[k])])
    assert len(centres) >= len(result.allocation[result.allocation["use"] != "not_modelled"])
    labels = {html_text for html_text in (a.text for a in fig.layout.annotations if a.name == "site label")}
    boxes = []
    for m in re.finditer(r'<g class="cursor-pointer" transform="translate\(([-\d.]+),\s*([-\d.]+)\)">'
                         r'<rect class="bg" x="[-\d.]+" y="[-\d.]+" width="([\d.]+)" height="([\d.]+)"[^>]*>'
                         r'</rect><text class="annotation-text"[^>]*data-unformatted="([^"]*)"', dom):
        x, y, w, h, text = m.groups()
        if text in labels:
            boxes.append((text, float(x), float(y), float(x) + float(w), float(y) + float(h)))
    assert len(boxes) == len(labels) == plot.LABELLED_SITES
    tol = 1.0
    for i, (text, x0, y0, x1, y1) in enumerate(boxes):
        for other, a0, b0, a1, b1 in boxes[i + 1:]:
            assert x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0, f"{text!r} overlaps {other!r}"
        inside = ((centres[:, 0] > x0 + tol) & (centres[:, 0] < x1 - tol) & (centres[:, 1] > y0 + tol)
                  & (centres[:, 1] < y1 - tol))
        assert not inside.any(), f"{text!r} covers the centre of {int(inside.sum())} marker(s)"


# --------------------------------------------------------------------------- a redispatch run


@pytest.fixture(scope="module")
def texas_redispatch(tmp_path_factory):
    """`planner solve texas --supply redispatch -q` in a subprocess (~20 s): (run directory,
    stdout, the result read back, the grid). Its AC check finds branches the new load puts over
    their rating (and converges with part of the new load only)."""
    import sys

    from planner.data.grid import load_grid

    out = tmp_path_factory.mktemp("redispatch") / "run"
    res = subprocess.run([sys.executable, "-m", "planner", "solve", "texas", "--supply", "redispatch",
                          "--out", str(out), "-q"], check=False, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    result = _result_from_run(out)
    return out, res.stdout, result, load_grid(result.summary.grid)


def test_redispatch_map_says_so(texas_redispatch):
    """PNG and HTML: the title tags the run redispatch, the subtitle says what moved."""
    _, _, result, grid = texas_redispatch
    assert result.summary.network["supply_response"] == "redispatch"
    fig = plot.allocation_map(grid, result)
    _draw_strict(fig)
    texts = _texts(fig)
    assert any(t.startswith("texas (N-0, redispatch) on grid texas") for t in texts)
    moved = result.summary.redispatch["moved_mw"]["peak"]
    assert any(t.startswith("redispatch run: generators redispatched to supply the new load") and
               f"{moved:,.0f} MW moved at peak" in t for t in texts)
    title = webmap.allocation_figure(grid, result).layout.title.text
    assert "(N-0, redispatch) on grid texas" in title and "redispatch run: generators redispatched" in title
    n, problems = _png_label_check(fig)  # the denser redispatch map keeps its labels clear too
    assert n == plot.LABELLED_SITES and problems == []


def test_headroom_map_names_its_supply(texas):
    grid, result = texas
    texts = _texts(plot.allocation_map(grid, result))
    assert not any("redispatch" in t for t in texts)
    assert any(t.startswith("supply: headroom · ") for t in texts)


def test_redispatch_console_warns_of_ac_overloads(texas_redispatch):
    """The AC check blames branches on the new load: a WARNING line with the remedy, beside the
    AC row; the legend's numbers are the console's."""
    run_dir, stdout, result, grid = texas_redispatch
    ac = result.summary.ac_check
    assert ac["caused_by_new_load"] > 0 and ac["share_of_new_load"] < 1
    warning = [li for li in stdout.splitlines() if li.startswith("WARNING: AC check")]
    assert len(warning) == 1, stdout
    assert f"the new load puts {ac['caused_by_new_load']} branches over their rating" in warning[0]
    assert f"AC converges with {ac['share_of_new_load']:.0%} of the new load only" in warning[0]
    assert "rerun with --ac-tighten" in warning[0]
    row = next(li for li in stdout.splitlines() if li.strip().startswith("AI demand unmet"))
    legend = _unmet_legend_png(plot.allocation_map(grid, result))
    assert _mw(row, "AI demand unmet") == _mw(legend, "AI demand unmet:") == round(result.summary.unmet_ai_mw)
    assert _mw(row, "not served there:") == _mw(legend, "not served there:")


def _ac(**kw) -> dict:
    base = {"run": True, "converged": True, "share_of_new_load": 1.0, "max_loading_percent": 150.0,
            "min_vm_pu": 0.95, "max_vm_pu": 1.04, "branches_over_rating": 2, "caused_by_new_load": 0,
            "over_rating": [], "preexisting_over_rating": [{"branch_id": 7, "loading_percent": 150.0,
                                                            "loading_percent_without_new_load": 140.0}],
            "base_case_converged": True}
    return {**base, **kw}


def test_ac_warnings_only_for_what_the_new_load_causes():
    from planner.cli import ac_warnings

    assert ac_warnings({"run": False, "skipped_reason": "ac.check is false in the scenario"}) == []
    assert ac_warnings(_ac()) == []  # over its rating without the new load too: no warning
    over = [{"branch_id": 11, "loading_percent": 131.4, "loading_percent_without_new_load": 60.0, "p_mw": 90.0,
             "q_mvar": 20.0}, {"branch_id": 12, "loading_percent": 104.0, "loading_percent_without_new_load": 70.0,
                               "p_mw": 50.0, "q_mvar": 5.0}]
    (line,) = ac_warnings(_ac(converged=False, share_of_new_load=0.8, caused_by_new_load=2, over_rating=over))
    assert line == ("WARNING: AC check: the new load puts 2 branches over their rating (worst: branch 11 at 131 %; "
                    "AC converges with 80% of the new load only): rerun with --ac-tighten to derate them in the DC "
                    "model and solve again")
    (line,) = ac_warnings(_ac(caused_by_new_load=1, over_rating=over[:1], tighten_rounds=[{}, {}, {}],
                               not_removable_by_dc_derating=[{"branch_id": 11, "reason": "reactive"}]))
    assert line.startswith("WARNING: AC check: after 2 --ac-tighten rounds the new load still puts 1 branch over its "
                           "rating (worst: branch 11 at 131 %)")
    assert "1 of them cannot be removed by derating DC limits" in line and "--ac-tighten to" not in line
    (line,) = ac_warnings(_ac(converged=False, share_of_new_load=0.95))
    assert "converges with 95% of the new load only" in line
    assert ac_warnings(_ac(converged=False, share_of_new_load=0.95, base_case_converged=False)) == []
