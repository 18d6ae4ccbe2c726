"""The dashboards in a real headless Chromium: no console errors, charts drawn, figures right.

Needs Debian's chromium at /usr/bin/chromium (.ci/run installs it); skipped without it.
"""
from datetime import datetime, timezone

import pytest

import browser
from ping_server import create_app
from ping_server.intake import accept_ping
from workers import catalog, exports, processing
from workers.fleet import Fleet, MetricSpec
from workers.settings import Settings
from workers.storage import Storage

pytestmark = pytest.mark.skipif(not browser.available(), reason=browser.MISSING_REASON)

SMAU = "usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo"
TOKEN = "browser-token"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, redis_server):
    """A small synthetic fleet (bundled dictionary), processed, served on a free port."""
    settings = Settings(database=tmp_path_factory.mktemp("dash") / "pingtally.db",
                        redis_url=redis_server.url, api_token=TOKEN)
    storage = Storage.open(settings)
    loaded = catalog.configured_dictionary(settings)
    catalog.store(storage, loaded)
    fleet = Fleet([MetricSpec(m.key_path, m.time_frame, m.stage) for m in loaded
                   if m.value_type == "number"], installations=8, seed=3)
    for received_at, payload in fleet.pings(datetime(2026, 1, 1, tzinfo=timezone.utc), 13):
        ping_id = accept_ping(storage, None, settings, payload, received_at=received_at,
                              source="import").ping_id
        processing.process_ping(storage, ping_id, settings)
    app = create_app(settings)
    with browser.served(app) as url:
        yield url, storage, settings
    storage.close()


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as instance:
        yield instance


def assert_charts_drawn(page, at_least: int) -> None:
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() >= at_least
    assert all(browser.painted(page, "canvas[data-chart]")), "a chart canvas stayed blank"
    charted = page.evaluate(
        "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))")
    assert charted


def test_pages_load_without_console_errors_and_draw_their_charts(demo, chromium):
    url, storage, _ = demo
    index, log = browser.open_page(chromium, url + "/")
    assert log.problems == []
    stages = storage.stage_names()
    assert index.locator("table.stages a").count() == len(stages)
    assert_charts_drawn(index, at_least=8)  # one sparkline per stage with an SMAU metric
    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scroll, client = index.evaluate(width)
    assert scroll <= client, "the stage list is wider than the window"
    index.close()
    for stage, charts in (("create", 8), ("plan", 6), ("data_stores", 0)):
        page, log = browser.open_page(chromium, f"{url}/stages/{stage}")
        assert log.problems == [], stage
        assert page.locator("h1").inner_text().startswith(page.title().split(" · ")[0])
        if charts:
            assert_charts_drawn(page, at_least=charts)
        page.close()


def test_smau_shown_equals_the_export(demo, chromium):
    url, storage, _ = demo
    page, log = browser.open_page(chromium, f"{url}/stages/create?from=2026-01&to=2026-03")
    assert log.problems == []
    request = exports.ExportRequest("smau", "2026-01", "2026-03", "create").validate()
    rows = [r for r in exports.rows(storage, request) if r["key_path"] == SMAU]
    assert [r["month"] for r in rows] == ["2026-01", "2026-02", "2026-03"]
    for row in rows:
        row_selector = f'#table-smau tr[data-month="{row["month"]}"]'
        cell = page.locator(f'{row_selector} td[data-field="recorded"]')
        assert browser.number(cell.text_content()) == row["recorded"]
    headline = page.locator(".headline dd.figure").first.text_content()
    assert browser.number(headline) == rows[-1]["recorded"]
    assert page.locator(".headline dl").first.get_attribute("data-month") == "2026-03"
    plotted = page.evaluate(
        "Chart.getChart(document.querySelector('canvas[data-chart=chart-smau]')).data.datasets"
        ".map(d => d.data)")
    assert plotted[0] == [r["recorded"] for r in rows]
    assert plotted[1] == [r["estimated_total"] for r in rows]


def test_month_range_selector(demo, chromium):
    url, _, _ = demo
    page, log = browser.open_page(chromium, f"{url}/stages/verify")
    page.select_option("#from", "2026-02")
    page.select_option("#to", "2026-02")
    with page.expect_navigation():
        page.click("form.range button")
    assert page.url.endswith("/stages/verify?from=2026-02&to=2026-02")
    months = page.eval_on_selector_all("#table-smau tbody tr",
                                       "rows => rows.map(r => r.dataset.month)")
    assert months == ["2026-02"]
    assert log.problems == []


def test_signed_in_browser_downloads_the_panel_csv(demo, chromium):
    url, storage, settings = demo
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(f"{url}/login?next=/stages/create")
    page.fill("#token", TOKEN)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/stages/create")
    with page.expect_download() as download:
        page.click("#smau a.csv")
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    last_month = page.locator(".headline dl").first.get_attribute("data-month")
    shown = browser.number(page.locator(".headline dd.figure").first.text_content())
    row = next(line.split(",") for line in lines if line.startswith(f"{last_month},create,{SMAU},"))
    assert int(row[3]) == shown
    context.close()
