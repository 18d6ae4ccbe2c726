"""Exports: columns, breakdowns, formats, spreadsheet safety, and the streamed HTTP API."""
import csv
import io
import json

import pytest

from rules_support import CREATE_SMAU
from workers import exports

MARCH = "2026-03-10T00:00:00.000000Z"


@pytest.fixture
def filled(pipeline):
    pipeline.send(MARCH, uuid="a", edition="EEU", create=10, verify=3, umau=40, pushes=7)
    pipeline.send(MARCH, uuid="b", edition="CE", hostname="=HYPERLINK(\"http://evil\")", create=20)
    pipeline.send("2026-04-10T00:00:00.000000Z", uuid="a", edition="EEU", create=12)
    pipeline.process()
    return pipeline


def render(storage, **params):
    return "".join(exports.render(storage, exports.ExportRequest(**params)))


@pytest.mark.parametrize("kind, leading", [
    ("smau", "month,stage,key_path,recorded,reporting_installations,percent_reporting,estimated_total"),
    ("gmau", "month,stage,group,key_path,recorded,reporting_installations,percent_reporting,estimated_total"),
    ("paid_gmau", "month,stage,group,key_path,recorded,reporting_installations,percent_reporting,estimated_total"),
    ("umau", "month,key_path,recorded,reporting_installations,percent_reporting,estimated_total"),
    ("cmau", "month,recorded,stages"),
    ("features", "month,stage,group,key_path,time_frame,activity,reporting_installations,"
                 "using_installations,adoption_rate,total,median"),
    ("installations", "month,uuid,hostname,version,edition,tier,deployment,ping_id,received_at"),
])
def test_csv_leading_columns(filled, kind, leading):
    header = render(filled.storage, kind=kind).splitlines()[0]
    assert header.startswith(leading)


@pytest.mark.parametrize("kind, after", [("smau", "stage"), ("umau", "month"), ("cmau", "month"),
                                         ("installations", "month"), ("features", "stage")])
def test_breakdown_column_comes_after_stage_or_month(filled, kind, after):
    header = render(filled.storage, kind=kind, by="tier").splitlines()[0].split(",")
    assert header[header.index(after) + 1] == "tier"


def test_breakdown_rows_sum_to_the_total(filled):
    total = filled.row("smau", "2026-03", CREATE_SMAU)["recorded"]
    parts = [r["recorded"] for r in filled.export("smau", by="tier")
             if r["month"] == "2026-03" and r["key_path"] == CREATE_SMAU]
    assert sum(parts) == total == 30


def test_month_range_and_stage_filter(filled):
    rows = filled.export("smau", first="2026-04", last="2026-04", stage="create")
    assert [(r["month"], r["stage"]) for r in rows] == [("2026-04", "create")]


def test_csv_cells_cannot_become_formulas(filled):
    text = render(filled.storage, kind="installations")
    hostnames = [row["hostname"] for row in csv.DictReader(io.StringIO(text))]
    assert "'=HYPERLINK(\"http://evil\")" in hostnames
    assert not any(h.startswith("=") for h in hostnames)


def test_json_carries_meta(filled):
    document = json.loads(render(filled.storage, kind="smau", format="json"))
    meta = document["meta"]
    assert meta["dictionary_fingerprint"] == filled.storage.dictionary_fingerprint()
    assert meta["rules_version"] and meta["estimation_method"] and meta["generated_at"]
    assert document["rows"][0]["key_path"]


def test_ndjson_first_line_is_meta_then_one_row_per_line(filled):
    lines = render(filled.storage, kind="cmau", format="ndjson").splitlines()
    assert "meta" in json.loads(lines[0])
    assert [json.loads(l)["month"] for l in lines[1:]] == ["2026-03", "2026-04"]


@pytest.mark.parametrize("params, message", [
    ({"kind": "nope"}, "unknown kind"), ({"kind": "smau", "first": "2026-13"}, "YYYY-MM"),
    ({"kind": "smau", "by": "planet"}, "unknown breakdown"),
    ({"kind": "smau", "format": "xml"}, "unknown format"),
    ({"kind": "smau", "stage": "Robert'); DROP TABLE"}, "stage key"),
    ({"kind": "smau", "first": "2026-05", "last": "2026-01"}, "after"),
])
def test_bad_export_parameters(params, message):
    with pytest.raises(exports.ExportError, match=message):
        exports.ExportRequest(**params).validate()


def test_http_export_streams_csv_with_the_token(filled, app, auth):
    client = app.test_client()
    assert client.get("/api/v1/rollups/smau").status_code == 401
    response = client.get("/api/v1/rollups/smau?from=2026-03&to=2026-03&stage=create", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["month"], r["recorded"]) for r in rows] == [("2026-03", "30")]


def test_http_export_json_and_errors(filled, app, auth):
    client = app.test_client()
    document = client.get("/api/v1/rollups/gmau?format=json", headers=auth).json
    assert document["meta"]["kind"] == "gmau"
    bad = client.get("/api/v1/rollups/smau?by=planet", headers=auth)
    assert bad.status_code == 400
    assert "breakdown" in bad.json["error"]
    assert client.get("/api/v1/rollups/bogus", headers=auth).status_code == 400


def test_cli_export_to_a_file(filled, app, tmp_path, monkeypatch):
    from rules_support import RULES_DICTIONARY

    out = tmp_path / "smau.csv"
    result = app.test_cli_runner().invoke(args=["export", "smau", "--by", "tier", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("month,stage,tier,key_path")
    result = app.test_cli_runner().invoke(args=["export", "smau", "--from", "March"])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output
