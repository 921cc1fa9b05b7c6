"""GraphiQL at /graphql works without internet: its assets come from the package, its page
allows nothing else (Content-Security-Policy), and a real browser (Debian's chromium and
chromium-driver, driven by selenium) renders the editor and runs a query with a key."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import leadgraph.web
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from test_mutations import CREATE_CONTACT

STATIC = Path(leadgraph.web.__file__).parent / "static"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)


async def test_page_loads_only_its_own_assets(api):
    page = await api.http.get(f"{api.base_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert "<script>" not in page.text and "<style" not in page.text  # nothing inline
    sources = [part.split('"')[0] for part in page.text.replace("href=", "src=").split('src="')[1:]]
    assert len(sources) == 8
    for source in sources:
        asset = await api.http.get(f"{api.base_url}{source}")
        assert asset.status_code == 200, source
        assert asset.content == (STATIC / "graphiql" / Path(source).name).read_bytes()


def test_pinned_assets_match_their_manifest_and_carry_their_licences():
    folder = STATIC / "graphiql"
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, sha in manifest["sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha, name
    for package in manifest["packages"]:
        assert package["version"][0].isdigit() and "^" not in package["version"]
        assert "MIT License" in (folder / package["licenseFile"]).read_text()
    versions = {p["name"]: p["version"] for p in manifest["packages"]}
    assert versions["graphiql"] == "3.8.3"


def _chrome() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def _drive(base_url: str, key: str) -> dict[str, Any]:
    """Open GraphiQL twice (bare, then with a query and the key), as a person would."""
    browser = _chrome()
    browser.set_window_size(1280, 900)
    wait = WebDriverWait(browser, 60)
    try:
        browser.get(f"{base_url}/graphql")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".graphiql-query-editor")))
        tools = wait.until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, ".graphiql-editor-tool"))
        )
        headers_hint = tools.text
        plugins = [
            b.get_attribute("aria-label") or ""
            for b in browser.find_elements(By.CSS_SELECTOR, ".graphiql-sidebar button")
        ]
        params = urlencode(
            {
                "q": "{ contacts { totalCount } }",  # ?query= would run it as an API call
                "headers": json.dumps({"Authorization": f"Bearer {key}"}),
            }
        )
        browser.get(f"{base_url}/graphql?{params}")
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        # on a timeout the assertion shows what the result pane holds instead
        with contextlib.suppress(TimeoutException):
            wait.until(
                ec.text_to_be_present_in_element(
                    (By.CSS_SELECTOR, ".result-window"), '"totalCount": 1'
                )
            )
        result = browser.find_element(By.CSS_SELECTOR, ".result-window").text
        console = [entry["message"] for entry in browser.get_log("browser")]
        return {"hint": headers_hint, "plugins": plugins, "result": result, "console": console}
    finally:
        browser.quit()


@needs_chromium
async def test_graphiql_renders_and_runs_a_query_in_a_real_browser(api):
    await api.gql(CREATE_CONTACT, {"i": {"lastName": "Browser"}})
    key = await api.key("read-only")
    seen = await asyncio.to_thread(_drive, api.base_url, key)  # the server runs on this loop
    assert '"Authorization": "Bearer <' in seen["hint"], seen  # where the key goes
    assert any("Explorer" in label for label in seen["plugins"]), seen["plugins"]
    assert '"totalCount": 1' in seen["result"], seen
    violations = [m for m in seen["console"] if "Content Security Policy" in m]
    assert not violations, violations
