"""Headless Chromium for the dashboard tests: Playwright driving Debian's `chromium` package.

No browser is downloaded (`playwright install` is never run): Playwright launches the system
binary. Also a small screenshot tool for the docs:

    python tests/browser.py http://127.0.0.1:8000 docs/img
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path(os.environ.get("PINGTALLY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MISSING_REASON = (f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium; "
                  ".ci/run does) to run the browser tests")

# True when at least one pixel of the canvas was painted.
CANVAS_PAINTED = """canvas => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
    return false;
}"""


def available() -> bool:
    return CHROMIUM.exists()


@contextmanager
def served(app):
    """Serve a WSGI app on a free local port in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """Console errors and warnings, uncaught page errors and failed requests of one page."""
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.console + self.errors + self.failed


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """A new page at `url`, with everything that went wrong while loading it in a PageLog."""
    page = browser.new_page(viewport={"width": width, "height": height})
    log = PageLog()
    page.on("console", lambda m: m.type in ("error", "warning") and log.console.append(
        f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    page.on("requestfailed", lambda r: log.failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and log.failed.append(f"{r.url}: {r.status}"))
    page.goto(url, wait_until="load")
    return page, log


def painted(page, selector: str) -> list[bool]:
    """For every canvas matching `selector`: did anything get drawn on it?"""
    return [page.eval_on_selector(f"{selector} >> nth={i}", CANVAS_PAINTED)
            for i in range(page.locator(selector).count())]


def number(text: str) -> int | float:
    """A figure as the pages print it ('1,234,567') back to a number."""
    cleaned = text.strip().replace(",", "")
    return float(cleaned) if "." in cleaned else int(cleaned)


SHOTS = [  # file name, path, element to clip to (None: the whole page)
    ("dashboards-index.png", "/", None),
    ("stage-create.png", "/stages/create", None),
    ("stage-create-gmau.png", "/stages/create", "#gmau"),
]


def screenshots(base_url: str, out_dir: Path) -> list[Path]:
    """PNG screenshots of the stage list and a stage page, for the documentation."""
    out_dir.mkdir(parents=True, exist_ok=True)
    taken = []
    with chromium() as browser:
        for name, path, selector in SHOTS:
            page, log = open_page(browser, base_url + path, width=1280, height=900)
            if log.problems:
                raise SystemExit(f"{path}: {log.problems}")
            target = out_dir / name
            if selector:
                page.locator(selector).screenshot(path=str(target))
            else:
                page.screenshot(path=str(target), full_page=True)
            taken.append(target)
            page.close()
    return taken


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: python tests/browser.py BASE_URL OUT_DIR")
    for shot in screenshots(sys.argv[1].rstrip("/"), Path(sys.argv[2])):
        print(shot)
