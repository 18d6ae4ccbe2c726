"""Stage dashboards through the Flask test client: figures, empty states, escaping, access."""
import shutil
from html.parser import HTMLParser

import pytest
from rules_support import CREATE_SMAU, RULES_DICTIONARY, Pipeline

from ping_server.dashboards import metric_names
from ping_server.formatting import number, percent
from workers import catalog, exports
from workers.settings import Settings, SettingsError
from workers.storage import Storage


class Cells(HTMLParser):
    """Text of every `data-field` cell, keyed by (section id, row month, row key path, field)."""

    def __init__(self):
        super().__init__()
        self.cells: dict[tuple, str] = {}
        self.links: list[str] = []
        self._section = self._row = self._field = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "id" in attrs:
            self._section = attrs["id"]
        if tag == "tr":
            self._row = (attrs.get("data-month"), attrs.get("data-key-path"))
        if tag == "dl" and "data-month" in attrs:
            self._row = (attrs.get("data-month"), attrs.get("data-key-path"))
            self._section = "headline"
        if tag == "a" and "csv" in (attrs.get("class") or ""):
            self.links.append(attrs["href"])
        if "data-field" in attrs:
            self._field = (self._section, *self._row, attrs["data-field"])
            self.cells[self._field] = ""

    def handle_data(self, data):
        if self._field:
            self.cells[self._field] += data

    def handle_endtag(self, tag):
        if tag in ("td", "dd", "span"):
            self._field = None


def cells(html: bytes) -> Cells:
    parser = Cells()
    parser.feed(html.decode())
    return parser


@pytest.fixture
def fleet(pipeline):
    """Three installations over two months; SMAU values in the thousands."""
    for month, values in (("2026-01", (1200, 3400, 0)), ("2026-02", (1500, 2700, 40))):
        for n, value in enumerate(values):
            pipeline.send(f"{month}-10T00:00:00Z", uuid=f"inst-{n}", hostname=f"h{n}.example",
                          create=value, verify=value // 2, visits=n, pushes=100 * n,
                          edition=("EEP", "CE", "EEU")[n])
    pipeline.process()
    return pipeline


@pytest.fixture
def web(runner_factory, pipeline):
    app, client, auth = runner_factory()
    return client


def test_index_lists_every_stage_with_latest_smau(fleet, web):
    page = web.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for stage in fleet.storage.stage_names():
        assert f'href="/stages/{stage}"'.encode() in page.data
    found = cells(page.data).cells
    assert found[(None, "2026-02", CREATE_SMAU, "recorded")] == "4,240"
    assert found[(None, "2026-02", CREATE_SMAU, "coverage")].split()[:3] == ["3", "of", "3"]


def test_stage_page_figures_equal_the_export(fleet, web):
    page = web.get("/stages/create?from=2026-01&to=2026-02")
    assert page.status_code == 200
    found = cells(page.data).cells
    request = exports.ExportRequest("smau", "2026-01", "2026-02", "create").validate()
    rows = list(exports.rows(fleet.storage, request))
    assert [r["month"] for r in rows] == ["2026-01", "2026-02"]
    for row in rows:
        for field in ("recorded", "estimated_total", "reporting_installations",
                      "active_installations"):
            assert found[("smau", row["month"], CREATE_SMAU, field)] == number(row[field])
    assert found[("headline", "2026-02", CREATE_SMAU, "recorded")] == "4,240"
    gmau = exports.ExportRequest("paid_gmau", "2026-01", "2026-02", "create").validate()
    for row in exports.rows(fleet.storage, gmau):
        shown = found[("paid_gmau", row["month"], CREATE_SMAU, "recorded")]
        assert shown == number(row["recorded"])


def test_feature_use_splits_read_and_write(fleet, web):
    html = web.get("/stages/plan").data.decode()
    write = html.split('id="features-write"')[1].split('id="features-read"')[0]
    read = html.split('id="features-read"')[1].split("</section>")[0]
    assert "No write metrics reported." in write
    assert "analytics_unique_visits_for_any_target_monthly" in read
    found = cells(html.encode()).cells
    visits = "analytics_unique_visits.analytics_unique_visits_for_any_target_monthly"
    assert found[("features", None, visits, "using_installations")] == "2"  # values 0, 1, 2
    assert found[("features", None, visits, "adoption_rate")] == "66.7%"
    create = web.get("/stages/create").data.decode()
    assert "counts.source_code_pushes" in create.split('id="features-write"')[1].split(
        'id="features-read"')[0]


def test_stage_without_data_in_a_populated_database(fleet, web):
    page = web.get("/stages/monitor")
    assert page.status_code == 200 and b"No data for Monitor yet" in page.data


def test_panels_link_to_csv_exports_that_reproduce_them(fleet, web):
    signed_out = cells(web.get("/stages/create").data).links
    assert signed_out and all(link.startswith("/login?next=") for link in signed_out)
    web.post("/login", data={"token": "test-token"})
    links = cells(web.get("/stages/create").data).links
    assert any("/api/v1/rollups/smau?" in link and "by=tier" in link for link in links)
    for link in links:
        response = web.get(link)  # the page's session cookie opens the API
        assert response.status_code == 200 and response.mimetype == "text/csv", link
    smau_csv = web.get(next(link for link in links if "/smau?" in link and "by=" not in link))
    lines = smau_csv.data.decode().splitlines()
    assert lines[0].startswith("month,stage,key_path,recorded")
    assert lines[-1].split(",")[:4] == ["2026-02", "create", CREATE_SMAU, "4240"]


def test_unknown_or_malformed_stage_is_a_404_page(fleet, web):
    for path in ("/stages/nope", "/stages/Create", "/stages/cr%3Cscript%3E", "/stages/" + "a" * 65):
        response = web.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html" and b"Stage not found" in response.data
        assert b"<script>" not in response.data


def test_bad_month_range_is_a_400_page(fleet, web):
    for query in ("from=2026-13", "to=26-01", "from=2026-02&to=2026-01"):
        response = web.get(f"/stages/create?{query}")
        assert response.status_code == 400 and response.mimetype == "text/html", query


def test_stage_without_data_says_so(pipeline, runner_factory):
    catalog.ensure_loaded(pipeline.storage, pipeline.settings)
    app, client, _ = runner_factory()
    index = client.get("/")
    assert b"No pings have been processed yet" in index.data
    page = client.get("/stages/create")
    assert page.status_code == 200
    assert b"No data for Create yet" in page.data
    assert b"<canvas" not in page.data


def test_month_range_without_data_says_so(fleet, web):
    page = web.get("/stages/verify?from=2025-01&to=2025-06")
    assert page.status_code == 200
    assert b"No data for Verify yet in 2025-01 to 2025-06" in page.data


@pytest.fixture
def custom_pipeline(env, monkeypatch, tmp_path):
    """A Pipeline over the rules dictionary plus extra YAML files: custom_pipeline({name: text})."""
    opened = []

    def build(extra: dict[str, str]) -> Pipeline:
        metrics = tmp_path / "metrics"
        metrics.mkdir()
        for source in RULES_DICTIONARY.glob("*.yml"):
            (metrics / source.name).write_text(source.read_text())
        for name, text in extra.items():
            (metrics / name).write_text(text)
        monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(metrics))
        settings = Settings.from_env()
        opened.append(Storage.open(settings))
        return Pipeline(opened[-1], settings)

    yield build
    for storage in opened:
        storage.close()


def test_payload_and_dictionary_text_is_escaped(custom_pipeline, runner_factory):
    pipeline = custom_pipeline({"evil.yml": (
        "key_path: counts.evil_metric\nproduct_group: \"<script>alert('group')</script>\"\n"
        "value_type: number\nstatus: active\ntime_frame: 28d\n"
        "performance_indicator_type: [gmau]\n")})
    pipeline.send("2026-03-02T00:00:00Z", uuid="evil", create=5, counts={"evil_metric": 7},
                  hostname="<script>alert('host')</script>",
                  version="16.11.1<script>alert('version')</script>")
    pipeline.process()
    assert "unknown" in pipeline.storage.stage_names()
    _, client, _ = runner_factory()
    for path in ("/", "/stages/create", "/stages/unknown"):
        body = client.get(path).data.decode()
        assert "<script>alert" not in body, path
        assert "alert('host')" not in body and "&lt;script&gt;alert(&#39;host" not in body
    unknown = client.get("/stages/unknown").data.decode()
    assert "&lt;script&gt;alert(&#39;group&#39;)&lt;/script&gt;" in unknown  # in the table
    assert "\\u003cscript\\u003ealert" in unknown  # in the chart's JSON


def test_two_smau_metrics_in_a_stage_are_shown_apart(custom_pipeline, runner_factory):
    pipeline = custom_pipeline({"second_smau.yml": (
        "key_path: usage_activity_by_stage_monthly.create.second_users\n"
        "product_group: source_code\nvalue_type: number\nstatus: active\ntime_frame: 28d\n"
        "performance_indicator_type: [smau]\n")})
    for n, (first, second) in enumerate(((1000, 7), (2000, 9))):
        pipeline.send("2026-03-02T00:00:00Z", uuid=f"i{n}", create=first,
                      usage_activity_by_stage_monthly={"create": {
                          "action_monthly_active_users_project_repo": first,
                          "second_users": second}})
    pipeline.process()
    _, client, _ = runner_factory()
    index = client.get("/")
    found = cells(index.data).cells
    assert found[(None, "2026-03", CREATE_SMAU, "recorded")] == "3,000"
    assert found[(None, "2026-03", "usage_activity_by_stage_monthly.create.second_users",
                  "recorded")] == "16"
    assert b"2 SMAU metrics: not summed" in index.data
    assert b"3,016" not in index.data
    page = client.get("/stages/create")
    assert page.data.count(b'<dl data-key-path=') == 2
    assert b"Users cannot be de-duplicated across metrics" in page.data


def test_flagging_a_gmau_metric_puts_its_group_on_the_page(fleet, tmp_path, monkeypatch,
                                                           runner_factory):
    """docs/adding-a-stage.md, step by step: flag, check, load, rebuild, see the page."""
    plan = runner_factory()[1].get("/stages/plan").data.decode()
    assert "no metric of this stage is flagged <code>gmau</code>" in plan
    flagged = tmp_path / "metrics"
    shutil.copytree(RULES_DICTIONARY, flagged)
    visits = flagged / "visits.yml"
    visits.write_text(visits.read_text() + "performance_indicator_type: [gmau]\n")
    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(flagged))
    app, client, _ = runner_factory()
    cli = app.test_cli_runner()
    for command in (["dictionary", "check"], ["dictionary", "load"], ["rebuild"]):
        result = cli.invoke(args=command)
        assert result.exit_code == 0, (command, result.output)
    found = cells(client.get("/stages/plan").data)
    visits_key = "analytics_unique_visits.analytics_unique_visits_for_any_target_monthly"
    assert found.cells[("gmau", "2026-02", visits_key, "recorded")] == "3"  # 0 + 1 + 2


def test_require_login_puts_the_dashboards_behind_the_sign_in(fleet, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_REQUIRE_LOGIN", "1")
    app, client, auth = runner_factory()
    for path in ("/", "/stages/create"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/stages/create", headers=auth).status_code == 200
    signed = client.post("/login?next=/stages/create", data={"token": "test-token"})
    assert signed.headers["Location"] == "/stages/create"
    assert client.get("/").status_code == 200
    monkeypatch.setenv("PINGTALLY_REQUIRE_LOGIN", "0")
    assert runner_factory()[1].get("/").status_code == 200


def test_require_login_setting_parses_flags():
    assert Settings.from_env({"PINGTALLY_REQUIRE_LOGIN": "yes"}).require_login is True
    assert Settings.from_env({"PINGTALLY_REQUIRE_LOGIN": "0"}).require_login is False
    assert Settings.from_env({}).require_login is False
    with pytest.raises(SettingsError):
        Settings.from_env({"PINGTALLY_REQUIRE_LOGIN": "maybe"})


def test_number_filters():
    assert number(1234567) == "1,234,567"
    assert number(0) == "0"
    assert number(32.5) == "32.5"
    assert number(4.0) == "4"
    assert number(1234.25) == "1,234.25"
    assert number(None) == "–" and number(True) == "–"
    assert percent(0.975) == "97.5%" and percent(1.0) == "100%" and percent(None) == "–"
    assert percent(0.12345, 2) == "12.35%"


def test_metric_names_are_short_and_distinct():
    names = metric_names([
        "counts.merge_requests", "usage_activity_by_stage_monthly.create.merge_requests",
        "redis_hll_counters.code_review.i_code_review_user_create_mr_monthly", "x", "y.x"])
    assert names == {
        "counts.merge_requests": "counts.merge_requests",
        "usage_activity_by_stage_monthly.create.merge_requests": "create.merge_requests",
        "redis_hll_counters.code_review.i_code_review_user_create_mr_monthly":
            "i_code_review_user_create_mr_monthly",
        "x": "x", "y.x": "y.x"}
