"""The explorer in a real browser, launched exactly as the README says: ``graphroute app --port N``.

The console script from this environment's ``bin`` serves the app with an empty embedding cache
(``GRAPHROUTE_CACHE`` is a fresh folder), so every query the page routes is embedded for the first
time, as what a user types is. Playwright drives Debian's Chromium: type a query never seen
before, press Route, read the chosen model off the page; then add a model in the "Add a model"
tab and look at the Graph tab. No error element may appear anywhere.

GRAPHROUTE_SCREENSHOT=1 writes the screenshot to docs/app.png (the README's picture); otherwise
it goes to the test's tmp directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import graphroute as gr

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

ROOT = Path(__file__).resolve().parents[1]
GRAPHROUTE = Path(sys.executable).parent / "graphroute"  # the console script `pip install` wrote
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'  # st.exception / st.error
WEIGHTS = {"effect": 1.0, "cost": 0.5}  # the sidebar's defaults
# sentence-transformers imports Hugging Face's `datasets`; a module of that name on sys.path that
# cannot be imported on its own is what broke every new query (graphroute/datasets.py, before d386b40)
SHADOW = "from .catalog import cards  # not Hugging Face's datasets: importing this as top-level fails\n"
START_S = 120  # the server answers within this; the first page run loads MiniLM and the router


def _fresh_query() -> str:
    """A query no cache and no log has seen: a few words and a uuid."""
    return f"Which of these is a mammal, {uuid.uuid4().hex}? A) salmon B) dolphin C) sparrow D) frog"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`graphroute app` exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"`graphroute app` did not answer on {url} within {START_S} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server by its pid (SIGTERM, then SIGKILL), and only it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture
def server(tmp_path):
    """``graphroute app --port N`` run from an empty folder with an empty embedding cache."""
    assert GRAPHROUTE.is_file(), f"no console script at {GRAPHROUTE}: install graphroute (pip install -e .)"
    port = _free_port()
    log = tmp_path / "app.log"
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRAPHROUTE_CACHE": str(cache),
           # Streamlit reads its options from STREAMLIT_* too: no browser tab, local only, no telemetry
           "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    workdir = tmp_path / "cwd"  # not the repository: the package must come from the install
    workdir.mkdir()
    if sys.version_info >= (3, 11):  # `python -P`: the working directory is not on sys.path either
        (workdir / "datasets.py").write_text(SHADOW)
    with open(log, "w") as out:
        proc = subprocess.Popen([str(GRAPHROUTE), "app", "--port", str(port)], cwd=workdir, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield {"url": url, "cache": cache, "log": log}
    finally:
        _stop(proc)


def _no_errors(page, where: str, log: Path) -> None:
    shown = page.locator(ERRORS)
    texts = [shown.nth(i).inner_text() for i in range(shown.count())]
    assert not texts, f"{where}: the page shows errors {texts}\nserver log:\n{log.read_text()[-2000:]}"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (Debian: apt-get install chromium)")
def test_graphroute_app_routes_a_new_query_in_the_browser(server, tmp_path):
    """The README's command serves a page that routes a query no cache has seen, adds a model and
    draws the graph, with no error shown (before the fix: "The 'minilm' embedder needs
    sentence-transformers (attempted relative import with no known parent package)")."""
    query = _fresh_query()
    expected = gr.default_router().select(query, weights=WEIGHTS).model
    shot = ROOT / "docs" / "app.png" if os.environ.get("GRAPHROUTE_SCREENSHOT") == "1" else tmp_path / "app.png"
    wait_ms = START_S * 1000
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(server["url"], wait_until="domcontentloaded")
            box = page.get_by_label("Query", exact=True)
            box.wait_for(timeout=wait_ms)
            box.fill(query)
            page.get_by_role("button", name="Route", exact=True).click()
            outcome = page.get_by_text("Chosen:").or_(page.locator(ERRORS)).first
            outcome.wait_for(timeout=wait_ms)
            _no_errors(page, "after Route", server["log"])
            assert expected in page.get_by_text("Chosen:").inner_text()
            page.get_by_text("Evidence", exact=True).wait_for()
            page.wait_for_timeout(1500)  # let the chart finish drawing before the picture
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)

            page.get_by_role("tab", name="Add a model").click()
            name = page.get_by_label("Model name", exact=True)
            name.wait_for(timeout=wait_ms)
            name.fill("browser-model")
            page.get_by_label("Description", exact=True).fill(f"a small open model for quizzes {uuid.uuid4().hex}")
            page.get_by_role("button", name="Add model", exact=True).click()
            added = page.get_by_text("Added browser-model").or_(page.locator(ERRORS)).first
            added.wait_for(timeout=wait_ms)
            _no_errors(page, "after Add model", server["log"])

            page.get_by_role("tab", name="Graph").click()
            page.get_by_text("Edge statistics per (task, model, agent)").wait_for(timeout=wait_ms)
            _no_errors(page, "on the Graph tab", server["log"])
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert any(server["cache"].iterdir()), "the app embedded nothing into GRAPHROUTE_CACHE: the query was not new"
