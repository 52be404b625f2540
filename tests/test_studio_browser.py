"""The studio's page in a real browser: Playwright drives Debian's chromium against a real `pixforge serve`.

``.ci/run`` installs chromium (``apt-get install -y chromium``); Playwright's own browser download is not
used. ``PIXFORGE_STUDIO_SCREENSHOT=docs/studio.png`` also saves the screenshot there (the README's).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from studiokit import Server


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from pixforge_search import build_index
    from pixforge_zoo import world

    inputs = tmp_path_factory.mktemp("inputs")
    world.write_samples(inputs / "shapes", 24, seed=1)
    build_index(inputs / "shapes")
    server = Server(tmp_path_factory.mktemp("browser") / "runs", workers=1, inputs=inputs)
    try:
        yield server.wait_ready()
    finally:
        assert server.stop() == 0, server.log.read_text()


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, "the browser tests need Debian's chromium: apt-get install -y chromium (as .ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.slow
def test_render_watch_gallery_and_search_in_the_page(studio, browser, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 1250})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(studio.url + "/")
    expect(page.locator("#preset option[value=default]")).to_have_count(1)

    page.fill("#prompt", "a red circle on a blue background")
    page.fill("#seed", "1")
    page.fill("#steps", "40")
    page.fill("#size", "64x64")
    page.fill("#overrides", "cutouts.count=4")
    page.click("#start")

    status = page.locator("#status")
    page.wait_for_function("Number(document.querySelector('#status').dataset.step) >= 1", timeout=90_000)
    first = int(status.get_attribute("data-step"))
    page.wait_for_function(
        f"Number(document.querySelector('#status').dataset.step) > {first}", timeout=90_000
    )  # progress moves
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-final", "completed", timeout=90_000)
    expect(status).to_contain_text("step 70/70")  # the default's layout (30 steps), then the render's 40
    assert page.eval_on_selector("#live", "img => img.complete && img.naturalWidth") == 64

    page.click("#refresh")
    cards = page.locator("#runs .card")
    expect(cards).to_have_count(1, timeout=30_000)
    expect(cards.first).to_contain_text("completed")
    page.wait_for_function("[...document.querySelectorAll('#runs .card img')].every(i => i.complete && i.naturalWidth)")
    cards.first.click()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-settings")).to_contain_text("seed: 1")
    assert page.get_attribute("#download-png", "href").endswith("final.png?download=1")

    page.fill("#search-q", "a purple star")
    page.fill("#search-index", "shapes")
    page.click("#search-go")
    # the first search loads the index's CLIP model into the server: allow for that on a busy machine
    expect(page.locator("#search-status")).to_contain_text("12 results", timeout=60_000)
    expect(page.locator("#results .card")).to_have_count(12)
    page.wait_for_function("[...document.querySelectorAll('#results .card img')].every(i => i.complete && i.naturalWidth)")

    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("PIXFORGE_STUDIO_SCREENSHOT"):
        target = Path(os.environ["PIXFORGE_STUDIO_SCREENSHOT"])
        if not target.is_absolute():
            target = Path(__file__).resolve().parent.parent / target
        shutil.copyfile(shot, target)
    assert problems == []


@pytest.mark.slow
def test_the_page_says_why_a_render_was_refused(studio, browser) -> None:
    page = browser.new_page()
    page.goto(studio.url + "/")
    expect(page.locator("#preset option[value=default]")).to_have_count(1)
    page.fill("#prompt", "a red circle")
    page.fill("#overrides", "init_image=/etc/hostname")
    page.click("#start")
    expect(page.locator("#status")).to_contain_text("outside")
    expect(page.locator("#status")).to_have_class("error")
