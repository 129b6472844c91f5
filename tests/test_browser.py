"""The explorer in a real browser: `streamlit run app/explorer.py` served on 127.0.0.1, driven by
Playwright with Debian's Chromium. Type a query, press Route, read the chosen model off the page.

GRAPHROUTE_SCREENSHOT=1 writes the screenshot to docs/app.png (the README's picture); otherwise
it goes to the test's tmp directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import graphroute as gr
from graphroute.routers.default import default_router_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "explorer.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = "Which gas do plants take in for photosynthesis? A) oxygen B) carbon dioxide C) nitrogen D) helium"
START_S = 90  # the server answers within this; the first page run loads MiniLM and the router


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer on {url} within {START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server(tmp_path):
    """A streamlit server for the app on a free port; only this process is stopped afterwards, by pid."""
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (Debian: apt-get install chromium)")
@pytest.mark.skipif(not (default_router_path() / "manifest.json").is_file(), reason="default router not built")
def test_route_a_query_in_the_browser(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    expected = gr.default_router().select(QUERY, weights={"effect": 1.0, "cost": 0.5}).model
    shot = ROOT / "docs" / "app.png" if os.environ.get("GRAPHROUTE_SCREENSHOT") == "1" else tmp_path / "app.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(server, wait_until="domcontentloaded")
            box = page.get_by_label("Query", exact=True)
            box.wait_for(timeout=START_S * 1000)
            box.fill(QUERY)
            page.get_by_role("button", name="Route", exact=True).click()
            chosen = page.get_by_text("Chosen:")
            chosen.wait_for(timeout=START_S * 1000)
            assert expected in chosen.inner_text()
            page.get_by_text("Evidence", exact=True).wait_for()
            page.wait_for_timeout(1500)  # let the chart finish drawing before the picture
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
