"""DESIGN.md rules 7-12: tiers, deployments, SMAU/GMAU/Paid GMAU/UMAU/CMAU, coverage, estimates."""
import pytest

from rules_support import CREATE_SMAU, UMAU, VERIFY_SMAU, VISITS
from workers.installations import GITLAB_COM_UUID, deployment_of, tier_of

MARCH = "2026-03-10T00:00:00.000000Z"


@pytest.mark.parametrize("edition, tier", [("CE", "free"), ("EE Free", "free"), ("EE", "starter"),
                                           ("EES", "starter"), ("EEP", "premium"), ("EEU", "ultimate")])
def test_rule7_tier_of_each_edition(edition, tier):
    assert tier_of(edition) == tier


def test_rule7_tier_change_mid_year_moves_paid_gmau(pipeline):
    for month in ("01", "02", "03"):
        pipeline.send(f"2026-{month}-10T00:00:00.000000Z", edition="EEP", create=10)
    for month in ("04", "05"):
        pipeline.send(f"2026-{month}-10T00:00:00.000000Z", edition="CE", create=10)
    pipeline.process()
    paid = {r["month"]: r["recorded"] for r in pipeline.export("paid_gmau")}
    assert paid["2026-03"] == 10
    assert paid.get("2026-04", 0) == 0
    by_tier = {(r["month"], r["tier"]): r["recorded"] for r in pipeline.export("smau", by="tier")
               if r["key_path"] == CREATE_SMAU and r["reporting_installations"]}
    assert by_tier[("2026-03", "premium")] == 10
    assert by_tier[("2026-04", "free")] == 10
    assert ("2026-04", "premium") not in by_tier


def test_rule8_deployments():
    assert deployment_of(GITLAB_COM_UUID, None) == "gitlab.com"
    assert deployment_of("x", True) == "dedicated"
    assert deployment_of("x", "true") == "self-managed"  # only a JSON true counts
    assert deployment_of("x", None) == "self-managed"


def test_rule8_deployment_breakdown(pipeline):
    pipeline.send(MARCH, uuid=GITLAB_COM_UUID, hostname="gitlab.com", create=1000)
    pipeline.send(MARCH, uuid="d", gitlab_dedicated=True, create=30)
    pipeline.send(MARCH, uuid="s", create=5)
    pipeline.process()
    rows = {r["deployment"]: r["recorded"] for r in pipeline.export("smau", by="deployment")
            if r["key_path"] == CREATE_SMAU}
    assert rows == {"gitlab.com": 1000, "dedicated": 30, "self-managed": 5}


def test_rule9_smau_gmau_paid_gmau_umau_cmau(pipeline):
    pipeline.send(MARCH, uuid="a", edition="EEU", create=10, verify=4, umau=50)
    pipeline.send(MARCH, uuid="b", edition="CE", create=20, verify=6, umau=70)
    pipeline.send(MARCH, uuid="c", edition="EES", create=5, umau=1)
    pipeline.process()
    assert pipeline.row("smau", "2026-03", CREATE_SMAU)["recorded"] == 35
    assert pipeline.row("smau", "2026-03", VERIFY_SMAU)["recorded"] == 10
    gmau = pipeline.row("gmau", "2026-03", CREATE_SMAU)
    assert (gmau["group"], gmau["recorded"]) == ("source_code", 35)
    assert pipeline.row("paid_gmau", "2026-03", CREATE_SMAU)["recorded"] == 15  # a (EEU) + c (EES)
    assert pipeline.row("umau", "2026-03")["recorded"] == 121
    cmau = pipeline.row("cmau", "2026-03")
    assert (cmau["recorded"], cmau["stages"]) == (45, 2)


def test_rule9_two_smau_metrics_in_a_stage_are_two_rows(tmp_path, env, monkeypatch):
    import shutil

    from rules_support import RULES_DICTIONARY, Pipeline
    from workers.settings import Settings
    from workers.storage import Storage

    shutil.copytree(RULES_DICTIONARY, tmp_path / "dict")
    text = (RULES_DICTIONARY / "visits.yml").read_text().replace(
        "product_group: optimize", "product_group: source_code").replace(
        "tiers:", "performance_indicator_type: [smau]\ntiers:")
    (tmp_path / "dict" / "visits.yml").write_text(text)
    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(tmp_path / "dict"))
    settings = Settings.from_env()
    pipeline = Pipeline(Storage.open(settings), settings)
    pipeline.send(MARCH, create=10, visits=99)
    pipeline.process()
    create_rows = [r for r in pipeline.export("smau") if r["stage"] == "create"]
    assert sorted(r["key_path"] for r in create_rows) == sorted([CREATE_SMAU, VISITS])
    assert {r["recorded"] for r in create_rows} == {10, 99}


def test_rule10_reporting_installations_counts_valid_values_only(pipeline):
    pipeline.send(MARCH, uuid="a", create=10)
    pipeline.send(MARCH, uuid="b", create=-1)
    pipeline.send(MARCH, uuid="c", verify=3)  # no create value at all
    pipeline.process()
    assert pipeline.row("smau", "2026-03", CREATE_SMAU)["reporting_installations"] == 1


def test_rule10_same_uuid_on_two_hostnames_is_two_installations(pipeline):
    pipeline.send(MARCH, uuid="same", hostname="one.example", create=10)
    pipeline.send(MARCH, uuid="same", hostname="two.example", create=15)
    pipeline.process()
    row = pipeline.row("smau", "2026-03", CREATE_SMAU)
    assert (row["recorded"], row["reporting_installations"]) == (25, 2)


def test_rule11_estimate_uses_active_installations_on_versions_with_the_metric(pipeline):
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="a", create=30)
    pipeline.send("2026-02-05T00:00:00.000000Z", uuid="b", create=10)   # silent in March: active
    pipeline.send("2025-12-05T00:00:00.000000Z", uuid="c", create=10)   # outside the window
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="d", version="12.0.0", verify=1)  # too old
    pipeline.send("2026-03-06T00:00:00.000000Z", uuid="e", create=-1)  # active, failed
    pipeline.process()
    row = pipeline.row("smau", "2026-03", CREATE_SMAU)
    assert row["reporting_installations"] == 1
    assert row["active_installations"] == 3  # a, b, e
    assert row["percent_reporting"] == pytest.approx(1 / 3, abs=1e-4)
    assert row["estimated_total"] == 90  # round(30 / (1/3))


def test_rule11_version_range_spans_first_to_last_version_seen_valid(pipeline):
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="a", version="15.0.0", create=10)
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="b", version="17.0.0", create=10)
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="mid", version="16.2.0", verify=1)
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="new", version="18.0.0", verify=1)
    pipeline.process()
    assert pipeline.row("smau", "2026-03", CREATE_SMAU)["active_installations"] == 3  # not 'new'


def test_rule11_estimate_is_empty_when_nobody_reports(pipeline):
    pipeline.send("2026-02-05T00:00:00.000000Z", uuid="a", create=10)
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="a", create=-1)
    pipeline.process()
    row = pipeline.row("smau", "2026-03", CREATE_SMAU)
    assert row["estimated_total"] is None
    assert row["percent_reporting"] == 0


def test_rule12_feature_use(pipeline):
    for uuid, value in (("a", 10), ("b", 0), ("c", 30), ("d", 50)):
        pipeline.send(MARCH, uuid=uuid, visits=value)
    pipeline.process()
    row = pipeline.row("features", "2026-03", VISITS)
    assert row["reporting_installations"] == 4
    assert row["using_installations"] == 3
    assert row["adoption_rate"] == 0.75
    assert row["total"] == 90
    assert row["median"] == 30
    assert row["activity"] == "read"


def test_rule12_median_of_an_even_count_is_the_mean_of_the_middle_two(pipeline):
    for uuid, value in (("a", 10), ("b", 20), ("c", 40), ("d", 1000)):
        pipeline.send(MARCH, uuid=uuid, create=value)
    pipeline.process()
    assert pipeline.row("features", "2026-03", CREATE_SMAU)["median"] == 30
    assert pipeline.row("features", "2026-03", CREATE_SMAU)["activity"] == "write"
