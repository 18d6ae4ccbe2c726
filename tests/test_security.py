"""Security: token checks in constant time, escaping of payload text in pages (in a real
headless browser) and in CSV exports, validated URL parts, parameters only in SQL, and no
tokens or payload contents in any log.
"""
import ast
import csv
import io
import json
import re
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

import browser
from fault_support import JSON, request, served
from ops_support import PINGTALLY, ROOT
from payloads import make_payload
from ping_server import auth as auth_module
from ping_server.intake import accept_ping
from workers import processing
from workers import queue as rq_queue
from workers.installations import format_timestamp, utc_now
from workers.payloads import pack_archive
from workers.settings import Settings
from workers.storage import Storage

# -- tokens -----------------------------------------------------------------------------------


def test_tokens_are_compared_in_constant_time(client, monkeypatch):
    compared = []
    real = auth_module.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", spy)
    wrong = "x" * len("test-token")
    assert client.get("/api/v1/queues", headers={"Authorization": f"Bearer {wrong}"}
                      ).status_code == 401
    assert (wrong.encode(), b"test-token") in compared
    assert client.post("/login", data={"token": wrong}).status_code == 401
    assert compared.count((wrong.encode(), b"test-token")) == 2


def test_no_secret_is_compared_with_an_ordinary_equality():
    """`==` on a token, digest or CSRF value would leak its prefix through timing."""
    secret = re.compile(r"token|digest|csrf|secret|password", re.I)
    for path in (ROOT / "ping_server").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq))
                                                     for op in node.ops):
                text = ast.unparse(node)
                assert not secret.search(text), f"{path.name}:{node.lineno}: {text}"


@pytest.mark.parametrize("header", ["Bearer ñandú", "Bearer " + "a" * 10_000, "Bearer",
                                    "Basic dGVzdC10b2tlbjo=", "bearer  test-token  x"])
def test_odd_authorization_headers_get_401_not_500(client, header):
    response = client.get("/api/v1/queues", headers={"Authorization": header})
    assert response.status_code == 401 and response.json["error"]


def test_sign_in_never_redirects_off_site(client):
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\evil"):
        response = client.post(f"/login?next={target}", data={"token": "test-token"})
        assert response.status_code == 302
        assert not re.match(r"^(https?:)?//|javascript:", response.headers["Location"])


def test_ops_actions_need_the_form_token(client, auth):
    client.post("/login", data={"token": "test-token"})
    response = client.post("/ops/requeue-failed", data={"fingerprint": ""})
    assert response.status_code == 400 and "stale" in response.json["error"]


# -- escaping in pages (headless Chromium) ---------------------------------------------------

XSS_HOSTNAME = "<script>alert('hostname')</script>"
XSS_MESSAGE = "<img src=x onerror=alert('message')>"
XSS_METRIC = "<svg onload=alert('timing')>"
XSS_ERROR = "ValueError: <img src=x onerror=alert('failure')>"
XSS_KEY = "</script><script>alert(1)</script>"  # no dots: it is one key of a key path
DICTIONARY = """key_path: usage_activity_by_stage_monthly.create.{key}
description: a metric whose key path is markup
product_group: source_code
value_type: number
status: active
time_frame: 28d
data_source: redis_hll
data_category: optional
performance_indicator_type: [smau, gmau]
tiers: [free, premium, ultimate]
milestone: "16.0"
"""


@pytest.fixture
def hostile_site(tmp_path, env, monkeypatch, runner_factory):
    """An app whose data is full of markup: a silent installation with a <script> hostname,
    an instance error report, a metric timing, a failed ping and a dictionary metric."""
    dictionary = tmp_path / "dictionary"
    dictionary.mkdir()
    (dictionary / "markup.yml").write_text(DICTIONARY.format(key=json.dumps(XSS_KEY)[1:-1]))
    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(dictionary))
    monkeypatch.setattr("ping_server.ops.REFRESH_SECONDS", 1)
    settings = Settings.from_env()
    storage = Storage.open(settings)
    now = utc_now()
    for days, hostname in ((40, XSS_HOSTNAME), (1, "fresh.example.com")):
        payload = make_payload(hostname=hostname, version="16.11.2-ee",
                               recorded_at=format_timestamp(now - timedelta(days=days)))
        payload["usage_activity_by_stage_monthly"]["create"][XSS_KEY] = 42
        ping_id = accept_ping(storage, None, settings, payload, source="import",
                              received_at=format_timestamp(now - timedelta(days=days))).ping_id
        processing.process_ping(storage, ping_id, settings)
    storage.record_instance_error(received_at=format_timestamp(now), uuid="u", hostname=XSS_HOSTNAME,
                                  unique_instance_id=None, version="16.11.2", message=XSS_MESSAGE,
                                  elapsed=1.0, reported_time=None)
    storage.record_metadata(received_at=format_timestamp(now), uuid="u", unique_instance_id=None,
                            metrics=[{"name": XSS_METRIC, "time_elapsed": 99.0}])
    failing = accept_ping(storage, None, settings, make_payload(recorded_at="2026-01-01T00:00:00Z"),
                          source="import").ping_id
    storage.mark_attempt_failed(failing, XSS_ERROR, format_timestamp(now), final=True)
    storage.close()
    app, client, auth = runner_factory()
    with browser.served(app) as url:
        yield url


@pytest.mark.skipif(not browser.available(), reason=browser.MISSING_REASON)
def test_markup_from_payloads_is_shown_as_text_and_never_runs(hostile_site):
    url = hostile_site
    with browser.chromium() as chromium:
        page = chromium.new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{url}/login?next=/ops")
        page.fill("#token", "test-token")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url.endswith("/ops")
        text = page.inner_text("body")
        for shown in (XSS_HOSTNAME, XSS_METRIC):
            assert shown in text  # escaped: visible as text, not parsed as markup
        # Messages are shown normalised (quoted values become placeholders).
        assert text.count("<img src=x onerror=alert(") >= 2  # the report and the failure
        stamp = page.inner_text("#ops-live .muted")
        # ops.js swaps in the refreshed panel (innerHTML of the server's escaped HTML).
        page.wait_for_function(f"!document.querySelector('#ops-live .muted').innerText"
                               f".includes({json.dumps(stamp[:26])})", timeout=5000)
        assert XSS_HOSTNAME in page.inner_text("body")
        assert page.locator("#ops-live script, #ops-live img[src=x], #ops-live svg").count() == 0

        page.close()

        # Its name is in the chart specs (JSON inside <script> blocks) and in the tables.
        stage, log = browser.open_page(chromium, f"{url}/stages/create")
        stage.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        assert XSS_KEY in stage.inner_text("body")
        assert log.problems == []  # a broken-out script would leave a syntax error or worse
        assert stage.locator("canvas[data-chart]").count() >= 2
        assert all(browser.painted(stage, "canvas[data-chart]"))  # every spec still parses
        missing, _ = browser.open_page(chromium, f"{url}/stages/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert "<script>" not in missing.content().split("<body", 1)[1]
        assert dialogs == []


# -- CSV exports -----------------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A9)", "=1+1;x,y"]


def test_csv_exports_defuse_formulas_through_the_api(client, auth, storage, settings):
    for n, text in enumerate(FORMULAS):
        payload = make_payload(uuid=f"formula-{n}", hostname=text,
                               installation_type=text, recorded_at=f"2026-10-0{n + 1}T00:00:00Z")
        ping_id = accept_ping(storage, None, settings, payload, source="import",
                              received_at="2026-10-15T00:00:00Z").ping_id
        processing.process_ping(storage, ping_id, settings)
    response = client.get("/api/v1/rollups/installations?format=csv&by=installation_type",
                          headers=auth)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert sorted(r["hostname"] for r in rows) == sorted("'" + t for t in FORMULAS)
    assert sorted(r["installation_type"] for r in rows) == sorted("'" + t for t in FORMULAS)
    as_json = client.get("/api/v1/rollups/installations?format=json", headers=auth).json
    assert sorted(r["hostname"] for r in as_json["rows"]) == sorted(FORMULAS)  # data unchanged


@pytest.mark.parametrize("field", ["uuid", "hostname", "version", "installation_type",
                                   "unique_instance_id"])
def test_control_characters_in_identity_fields_are_refused(client, field):
    """A CR inside a CSV field that the writer does not quote starts a new spreadsheet row."""
    for text in ("gitlab\rexample", "a\nb", "nul\x00", "\tlead"):
        response = client.post("/usage_data", data=json.dumps(make_payload(**{field: text})),
                               headers=JSON)
        assert response.status_code == 422
        assert response.json["fields"][field] == ["Must not contain control characters."]


# -- URL parts and SQL -----------------------------------------------------------------------

INJECTIONS = ["x' OR '1'='1", "create; DROP TABLE pings;--", "../../etc/passwd", "CREATE",
              "create%00", "a" * 65, "<script>"]


def test_url_parts_are_validated(client, auth, storage):
    for value in INJECTIONS:
        for query in (f"stage={value}", f"by={value}", f"from={value}", f"format={value}"):
            response = client.get("/api/v1/rollups/smau", query_string=dict([query.split("=", 1)]),
                                  headers=auth)
            assert response.status_code == 400, (query, response.status_code)
            assert response.json["error"]
        assert client.get(f"/api/v1/rollups/{value}", headers=auth).status_code in (400, 404)
        assert client.get(f"/stages/{value}").status_code == 404
    tables = {r[0] for r in storage.conn.execute("SELECT name FROM sqlite_master")}
    assert {"pings", "ping_payloads", "installations", "rollups"} <= tables


# Every value spliced into SQL text in the storage package, and why it is safe. Anything from
# a request or a payload goes in as a `?` parameter; a new interpolation fails this test until
# it is reviewed and added here.
SAFE_SHAPES = re.compile(r"^int\([\w.]+\)( \* \d+)?$")  # int(x), int(x) * 1024: a number
REVIEWED_INTERPOLATIONS = {
    "'FULL' if durable else 'NORMAL'": "one of two constants",
    "number": "a migration number from enumerate()",
    "column": "a column name from a constant mapping (validated breakdown) or a literal",
    "flag": "a flag column from INDICATOR_FILTERS, keyed by a validated kind",
    "', '.join(METRIC_COLUMNS)": "constant column list", "placeholders": "'?, ?, ...'",
    "updates": "built from METRIC_COLUMNS", "' AND '.join(where)": "constant fragments with ?",
    "where": "constant fragments with ?", "buckets": "'count(*) FILTER (WHERE s <= ?)' repeated",
    "seconds": "a constant expression over two column names",
    "', '.join(('?' for _ in ROLLUP_COLUMNS))": "placeholders",
    "', '.join(('?' for _ in months))": "placeholders", "', '.join(ROLLUP_COLUMNS)": "constant",
    "ROLLED_UP": "a constant tuple of time frames", "table": "a name from a constant tuple",
    "' AND '.join((c + ' = ?' for c in COMBO_COLUMNS))": "constant columns with ?",
    "', '.join(('?' for _ in SNAPSHOT_COLUMNS))": "placeholders",
    "', '.join(COMBO_COLUMNS)": "constant", "', '.join(SNAPSHOT_COLUMNS)": "constant",
}
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|FROM|VALUES|ORDER BY|LIMIT|JOIN|"
                       r"SET|AND|OR|IN|PRAGMA|FILTER)\b")
STORAGE = ROOT / "workers" / "storage"


def spliced_into_sql(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if SQL_WORDS.search(text):
                found |= {ast.unparse(v.value) for v in node.values
                          if isinstance(v, ast.FormattedValue)}
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
              and isinstance(node.left, ast.Constant) and SQL_WORDS.search(str(node.left.value))):
            found.add(ast.unparse(node.right))
    return found


def test_sql_gets_values_only_as_parameters():
    spliced = {expr: path.name for path in STORAGE.glob("*.py") for expr in spliced_into_sql(path)}
    unreviewed = {e: f for e, f in spliced.items()
                  if e not in REVIEWED_INTERPOLATIONS and not SAFE_SHAPES.match(e)}
    assert unreviewed == {}, "review these values spliced into SQL (use ? parameters)"


TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def test_no_sql_outside_the_storage_package():
    """So the audit above sees every statement that touches data."""
    for path in list((ROOT / "ping_server").rglob("*.py")) + list((ROOT / "workers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript", "query")
                    and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))):
                sql = ast.unparse(node.args[0]).strip("'\"f")
                if not TRANSACTION_CONTROL.match(sql):
                    raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} runs SQL")


# -- logs --------------------------------------------------------------------------------------

MARKER = "PAYLOAD-MARKER-7f3a"


def test_no_token_or_payload_content_in_any_log(tmp_path, env, monkeypatch, settings, storage,
                                                 queue):
    """Web (gunicorn access and error logs), import and worker output at INFO level, with
    accepted, refused and failing pings that all carry a marker string."""
    token = env["PINGTALLY_API_TOKEN"]
    logs = []
    with served() as web:
        marked = make_payload(hostname=f"{MARKER}.example.com", installation_type=MARKER,
                              counts={MARKER: 1, "issues": 3})
        assert request(web.url, "POST", "/usage_data", json.dumps(marked).encode(), JSON)[0] == 201
        refusals = [
            json.dumps(make_payload(recorded_at=MARKER)).encode(),  # 422
            f'{{"uuid": "{MARKER}", "x": NaN}}'.encode(),  # 400
            json.dumps({"error": {"message": MARKER, "hostname": MARKER}}).encode(),  # 201
            ('{"uuid": "' + MARKER + '", "counts": ' + "[" * 100 + "]" * 100 + "}").encode(),
        ]
        for body in refusals:
            path = "/usage_ping_errors" if b'"error"' in body else "/usage_data"
            assert request(web.url, "POST", path, body, JSON)[0] < 500
        for path in ("/api/v1/queues", "/metrics", "/api/v1/pings/1"):
            assert request(web.url, "GET", path, headers={"Authorization": f"Bearer {token}"}
                           )[0] == 200
        assert request(web.url, "POST", "/login", f"token={token}".encode(),
                       {"Content-Type": "application/x-www-form-urlencoded"})[0] == 302
        web.stop()
        logs.append(("web", web.output()))

    source = tmp_path / "marked.ndjson"
    source.write_text("\n".join([
        json.dumps(make_payload(uuid=f"{MARKER}-uuid", hostname=MARKER,
                                recorded_at="2026-10-02T00:00:00Z")),
        json.dumps(make_payload(version=None, hostname=MARKER)),  # rejected
        '{"hostname": "' + MARKER + '", broken',  # rejected
    ]))
    imported = subprocess.run([PINGTALLY, "import", str(source)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert "2 rejected" in imported.stdout, imported.stdout
    logs.append(("import", imported.stdout + imported.stderr))

    poison = (b'{"uuid": "p", "hostname": "' + MARKER.encode() + b'", "counts": '
              + b"[" * 3000 + b"]" * 3000 + b"}")
    ping_id = storage.archive_ping(uuid="p", hostname=MARKER, recorded_at="2026-10-03T00:00:00Z",
                                   received_at=format_timestamp(utc_now()), version="1",
                                   edition=None, source="http", body=pack_archive(poison),
                                   payload_bytes=len(poison)).ping_id
    rq_queue.try_enqueue(storage, queue, ping_id, replace(settings, job_retries=0))
    worker = subprocess.run([PINGTALLY, "worker", "--burst"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    logs.append(("worker", worker.stdout + worker.stderr))
    assert storage.ping(ping_id)["status"] == "failed"
    assert "INFO" in logs[-1][1] and "nested too deeply" in logs[-1][1]

    for name, text in logs:
        assert token not in text, f"the token is in the {name} log"
        assert MARKER not in text, f"payload content is in the {name} log"
    assert '"POST /usage_data HTTP/1.1" 201' in logs[0][1]  # the access log is there
