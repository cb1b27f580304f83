"""The memory inspector's (/ui) page weight and first-load time on loopback.

    python benchmarks/ui_load.py                      # writes benchmarks/results/ui.md
    python benchmarks/ui_load.py --screenshot docs/inspector.png

Starts the app (embedded Weaviate in a temp dir, the default embedding model, the demo data of
``memos-integrations ui``) on a loopback port, then loads views in headless Debian Chromium
(Selenium + the system chromedriver) with the browser cache disabled, ``--runs`` times each, and
reads the Navigation / Resource Timing API:

* page weight: bytes transferred for the page (HTML), its scripts and styles, and the JSON the
  view fetched; the relation graph's lazily loaded cytoscape.js is counted on its own view only;
* times from navigation start: HTML received (responseEnd), DOMContentLoaded, load, and "ready"
  (the view has fetched its data and rendered: the app sets ``body[data-ready-ms]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ui.md"
VIEWS = [
    ("users (first load)", "#/"),
    ("memories table", "#/cube/caroline"),
    ("memory history", None),  # filled with a memory id
    ("relations graph (+ cytoscape.js)", "#/cube/caroline/graph"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path) -> tuple[str, Any, Any]:
    import uvicorn

    from memos_integrations.config import Settings
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.server.app import create_app
    from memos_integrations.server.ui.demo import load_demo

    settings = Settings(MEMOS_DATA_DIR=data_dir, MEMOS_EMBEDDED_HTTP_PORT=free_port(),
                        MEMOS_EMBEDDED_GRPC_PORT=free_port(), MEMOS_UI_ENABLED=True)
    engine = MemoryEngine.from_settings(settings)
    load_demo(engine)
    engine.flush()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine, settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, engine


def browser() -> Any:
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,900", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return driver


MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource');
const size = e => e.transferSize || e.encodedBodySize || 0;
const kind = e => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest' ? 'json'
  : (e.name.endsWith('.css') ? 'css' : (e.name.endsWith('.js') ? 'js' : 'other'));
const out = {html: size(nav), js: 0, css: 0, json: 0, other: 0, requests: 1 + res.length,
  response_end: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
  ready: Number(document.body.dataset.readyMs)};
for (const e of res) out[kind(e)] += size(e);
return out;
"""


def load_view(driver: Any, url: str) -> dict[str, float]:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.body && document.body.dataset.readyMs && performance.getEntriesByType('navigation')[0].loadEventEnd > 0"))
    if "graph" in url:
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return !!window.__inspectorGraph"))
    return dict(driver.execute_script(MEASURE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--screenshot", default=None, help="also save a screenshot of recall explained here")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_start = os.getloadavg()[0]
    data_dir = Path(tempfile.mkdtemp(prefix="memos-ui-bench-"))
    url, server, engine = start_server(data_dir)
    driver = browser()
    try:
        memory = engine.list_memories("caroline", filter={"key": "home city"}, limit=1)[0]
        rows = []
        for name, fragment in VIEWS:
            fragment = fragment or f"#/memory/{memory.id}"
            load_view(driver, f"{url}/ui/{fragment}")  # warm the server side once
            runs = [load_view(driver, f"{url}/ui/{fragment}") for _ in range(args.runs)]
            rows.append((name, fragment, runs))
            print(name, {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}, flush=True)
        if args.screenshot:
            take_screenshot(driver, url, Path(args.screenshot))
    finally:
        driver.quit()
        server.should_exit = True
        engine.close()
    write_report(Path(args.out), rows, args.runs, load_start, os.getloadavg()[0])


def take_screenshot(driver: Any, url: str, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(1440, 1500)
    driver.get(f"{url}/ui/#/cube/caroline/recall?query=" + "Where%20does%20Caroline%20live%20and%20what%20should%20I%20cook%3F"
               + "&threshold=0.4&top_k=5")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "memory-prompt"))
    time.sleep(0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_report(path: Path, rows: list[tuple[str, str, list[dict[str, float]]]], runs: int,
                 load_start: float, load_end: float) -> None:
    import psutil

    kb = 1024
    lines = [
        "# Memory inspector (/ui): page weight and first load on loopback",
        "",
        f"Command: `python {' '.join(['benchmarks/ui_load.py', *sys.argv[1:]])}`",
        (f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {psutil.cpu_count()} cores ({platform.machine()}), "
        f"Weaviate embedded, headless Chromium (Debian), browser cache disabled; load average at start "
        f"{load_start:.1f}, at end {load_end:.1f} (other jobs shared the cores)."),
        "",
        (f"Each view loaded {runs} times from a blank page (after one warm-up load); bytes as transferred "
        "(headers included; scripts and styles gzip-compressed by the server, HTML and JSON not); times in ms "
        "from navigation start, median (p90). *ready* = the view has fetched its JSON and rendered. The demo data of "
        "`memos-integrations ui` (10 memories, 8 relations)."),
        "",
        "| view | HTML KiB | JS KiB | CSS KiB | JSON KiB | total KiB | requests | HTML received | DOMContentLoaded | load | ready |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _fragment, data in rows:
        med = {k: statistics.median(r[k] for r in data) for k in data[0]}
        p90 = {k: _p([r[k] for r in data], 0.9) for k in data[0]}
        total = med["html"] + med["js"] + med["css"] + med["json"] + med["other"]
        lines.append(
            f"| {name} | {med['html'] / kb:.1f} | {med['js'] / kb:.1f} | {med['css'] / kb:.1f} | {med['json'] / kb:.1f} "
            f"| {total / kb:.1f} | {med['requests']:.0f} | {med['response_end']:.0f} ({p90['response_end']:.0f}) "
            f"| {med['dcl']:.0f} ({p90['dcl']:.0f}) | {med['load']:.0f} ({p90['load']:.0f}) "
            f"| {med['ready']:.0f} ({p90['ready']:.0f}) |")
    static = ROOT / "memos_integrations" / "server" / "ui" / "static"
    raw = {name: (static / name).stat().st_size / kb
           for name in ("index.html", "app.js", "style.css", "vendor/cytoscape.min.js")}
    lines += [
        "",
        "Files as shipped (uncompressed): " + ", ".join(f"`{n}` {v:.1f} KiB" for n, v in raw.items()) + ".",
        "",
        ("No build step and no CDN: `memos_integrations/server/ui/static/` ships the page, one ES module, one "
        "stylesheet and cytoscape.js 3.35.0 (minified, MIT, loaded only by the graph view)."),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
