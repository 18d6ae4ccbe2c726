"""The metric dictionary (workers/dictionary.py) on small GitLab-shaped definition files."""
import shutil
import textwrap
from pathlib import Path

import pytest

from workers.dictionary import (
    Dictionary,
    Metric,
    activity_of,
    check,
    default_metrics_dir,
    load_dictionary,
)
from workers.stages import StageMap

DATA = Path(__file__).parent / "data" / "dictionary"
CE = DATA / "config" / "metrics"
EE = DATA / "ee" / "config" / "metrics"
MAIN_STAGES = [
    "plan", "create", "verify", "package", "deploy", "secure", "govern", "monitor", "manage", "systems",
]


@pytest.fixture(scope="module")
def stage_map():
    return StageMap.load()


@pytest.fixture(scope="module")
def sample(stage_map):
    return load_dictionary([CE, EE], stage_map)


@pytest.fixture(scope="module")
def default(stage_map):
    return load_dictionary([default_metrics_dir()], stage_map)


def write_metric(directory: Path, name: str, **fields) -> Path:
    """Write one current-schema definition file; ``fields`` override the defaults."""
    doc = {
        "key_path": f"counts_monthly.{name}",
        "description": f"test metric {name}",
        "product_group": "source_code",
        "value_type": "number",
        "status": "active",
        "time_frame": "28d",
        "data_source": "database",
        "performance_indicator_type": [],
        "tiers": ["free"],
        "milestone": "16.0",
    }
    doc.update(fields)
    lines = []
    for key, value in doc.items():
        if value is None:
            continue
        if isinstance(value, list):
            lines.append(f"{key}: [{', '.join(value)}]")
        else:
            lines.append(f'{key}: "{value}"' if key == "milestone" else f"{key}: {value}")
    path = directory / f"{name}.yml"
    path.write_text("---\n" + "\n".join(lines) + "\n")
    return path


def kinds(problems):
    return sorted((p.kind, Path(p.file).name if p.file else None) for p in problems)


# -- loading both schemas ---------------------------------------------------------------------


def test_current_schema(sample):
    metric = sample.get("usage_activity_by_stage_monthly.verify.ci_pipelines")
    assert metric.group == "pipeline_execution"
    assert (metric.stage, metric.section) == ("verify", "ci")
    assert metric.indicators == ("smau", "gmau", "paid_gmau", "customer_health_score", "lighthouse")
    assert metric.tiers == ("free", "premium", "ultimate")
    assert metric.milestone == "12.9"
    assert metric.active and metric.rolls_up
    assert metric.activity == "write"


def test_old_schema(sample):
    metric = sample.get("usage_activity_by_stage_monthly.plan.issues")
    assert metric.group == "project_management"
    assert (metric.stage, metric.section) == ("plan", "dev")
    assert metric.status == "data_available"
    assert metric.active
    assert metric.tiers == ("free", "premium", "ultimate")
    assert metric.indicators == ()


def test_renamed_group_resolves_to_successor(sample):
    metric = sample.get("counts_monthly.aggregated_metrics.incident_management_alerts_total_unique_counts")
    assert metric.group == "respond"
    assert metric.stage == "monitor"


def test_product_stage_wins_over_mapped_stage(sample, stage_map):
    metric = sample.get("counts_monthly.successful_deployments")
    assert stage_map.stage_of_group("group::release") == "deploy"
    assert metric.group == "environments"
    assert (metric.stage, metric.section) == ("release", "ops")


def test_unquoted_milestone_keeps_its_digits(sample):
    assert sample.get("recorded_at").milestone == "8.10"
    assert sample.get("recorded_at").time_frame == "none"
    assert not sample.get("recorded_at").rolls_up


def test_removed_metric_is_inactive_but_loaded(sample):
    metric = sample.get("usage_activity_by_stage_monthly.create.merge_requests")
    assert metric.status == "removed"
    assert not metric.active
    assert metric.rolls_up
    assert metric not in sample.for_stage("create")
    assert metric in sample.for_stage("create", include_inactive=True)


def test_time_frame_list_expands(sample):
    base = "redis_hll_counters.code_review.i_code_review_user_approve_mr"
    assert sample.get(base + "_weekly").time_frame == "7d"
    assert sample.get(base + "_monthly").time_frame == "28d"
    assert sample.get(base).time_frame == "all"
    assert sample.get(base + "_weekly").source == sample.get(base).source


def test_scalar_time_frame_keeps_key_path(sample):
    assert sample.get("counts.source_code_pushes").time_frame == "all"
    assert sample.get("counts.source_code_pushes_all") is None


def test_skips_schema_and_aggregate_files(sample):
    sources = {Path(m.source).name for m in sample}
    assert "base.json" not in sources and "code_review.yml" not in sources
    assert not [p for p in sample.problems if p.file and "aggregates" in p.file]


# -- problems --------------------------------------------------------------------------------


def test_invalid_files_are_problems_not_errors(sample):
    invalid = {Path(p.file).name: p.message for p in sample.problems if p.kind == "invalid_file"}
    assert set(invalid) == {"broken_syntax.yml", "no_key_path.yml", "not_a_mapping.yml", "bad_time_frame.yml"}
    assert "YAML" in invalid["broken_syntax.yml"]
    assert "key_path" in invalid["no_key_path.yml"]
    assert "mapping" in invalid["not_a_mapping.yml"]
    assert "30d" in invalid["bad_time_frame.yml"]
    assert sample.get("counts_monthly.thirty_days") is None


def test_duplicate_key_path_keeps_first_by_path(sample):
    metric = sample.get("usage_activity_by_stage_monthly.verify.ci_pipelines")
    assert Path(metric.source).name == "20210216175554_ci_pipelines.yml"
    duplicates = [p for p in sample.problems if p.kind == "duplicate_key_path"]
    assert len(duplicates) == 1
    assert duplicates[0].key_path == "usage_activity_by_stage_monthly.verify.ci_pipelines"
    assert Path(duplicates[0].file).name == "duplicate_ci_pipelines.yml"
    assert "20210216175554_ci_pipelines.yml" in duplicates[0].message


def test_missing_directory_is_a_problem(stage_map, tmp_path):
    dictionary = load_dictionary([tmp_path / "nope"], stage_map)
    assert len(dictionary) == 0
    assert [p.kind for p in dictionary.problems] == ["missing_dir"]


def test_unknown_stage_reported_by_check(sample):
    metric = sample.get("redis_hll_counters.ai_catalog.count_distinct_user_id_from_catalog_item_created_monthly")
    assert (metric.group, metric.stage, metric.section) == ("ai_catalog", "unknown", None)
    unknown = [p for p in check(sample) if p.kind == "unknown_stage"]
    assert [p.key_path for p in unknown] == [metric.key_path]
    assert "ai_catalog" in unknown[0].message


def test_stale_product_stage_reported_by_check(sample):
    unmapped = {p.key_path for p in check(sample) if p.kind == "unmapped_stage"}
    assert unmapped == {"counts_monthly.successful_deployments", "topology"}


def test_check_on_sample(sample):
    assert kinds(check(sample)) == sorted([
        ("invalid_file", "bad_time_frame.yml"),
        ("invalid_file", "broken_syntax.yml"),
        ("invalid_file", "no_key_path.yml"),
        ("invalid_file", "not_a_mapping.yml"),
        ("duplicate_key_path", "duplicate_ci_pipelines.yml"),
        ("unknown_stage", "unmapped_group.yml"),
        ("unmapped_stage", "20210216181923_successful_deployments.yml"),
        ("unmapped_stage", "topology.yml"),
    ])


def test_two_smau_in_one_stage_reported(stage_map, tmp_path):
    write_metric(tmp_path, "pushes_users", performance_indicator_type=["smau"])
    write_metric(tmp_path, "review_users", product_group="code_review", performance_indicator_type=["smau"])
    write_metric(tmp_path, "old_users", performance_indicator_type=["smau"], status="removed")
    write_metric(tmp_path, "ci_users", product_group="pipeline_execution", performance_indicator_type=["smau"])
    problems = [p for p in check(load_dictionary([tmp_path], stage_map)) if p.kind == "smau_double_count"]
    assert len(problems) == 1
    assert "'create'" in problems[0].message
    assert "counts_monthly.pushes_users" in problems[0].message
    assert "counts_monthly.review_users" in problems[0].message
    assert "old_users" not in problems[0].message


def test_gmau_without_group_reported(stage_map, tmp_path):
    write_metric(tmp_path, "orphan", product_group=None, performance_indicator_type=["gmau", "paid_gmau"])
    write_metric(tmp_path, "gone", product_group=None, performance_indicator_type=["gmau"], status="removed")
    problems = [p for p in check(load_dictionary([tmp_path], stage_map)) if p.kind == "gmau_without_group"]
    assert [p.key_path for p in problems] == ["counts_monthly.orphan"]


def test_indicator_on_metric_without_monthly_value_reported(stage_map, tmp_path):
    write_metric(tmp_path, "weekly_users", time_frame="7d", performance_indicator_type=["smau"])
    problems = check(load_dictionary([tmp_path], stage_map))
    assert [p.kind for p in problems] == ["indicator_not_rolled_up"]


# -- activity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_path", "activity"),
    [
        ("analytics_unique_visits.g_analytics_valuestream", "read"),
        ("compliance_unique_visits.compliance_unique_visits_for_any_target_monthly", "read"),
        ("redis_hll_counters.wiki.wiki_page_views_monthly", "read"),
        ("counts.pageviews", "read"),
        ("counts_monthly.dashboard_viewed", "read"),
        ("redis_hll_counters.source.i_source_code_visit_monthly", "read"),
        ("counts_monthly.reviewed_merge_requests", "write"),
        ("counts.previews", "write"),
        ("redis_hll_counters.views.i_editor_saved_monthly", "write"),
        ("usage_activity_by_stage_monthly.verify.ci_pipelines", "write"),
    ],
)
def test_activity_rule(key_path, activity):
    assert activity_of(key_path) == activity


def test_activity_from_data_files(sample):
    assert sample.get("analytics_unique_visits.analytics_unique_visits_for_any_target_monthly").activity == "read"
    assert sample.get("counts.source_code_pushes").activity == "write"


def test_activity_override(sample):
    assert sample.get("redis_hll_counters.compliance.g_compliance_dashboard_monthly").activity == "read"
    assert sample.get("redis_hll_counters.wiki.wiki_page_views_monthly").activity == "write"


def test_invalid_activity_falls_back_to_rule(stage_map, tmp_path):
    write_metric(tmp_path, "page_views", activity="sometimes")
    dictionary = load_dictionary([tmp_path], stage_map)
    assert dictionary.get("counts_monthly.page_views").activity == "read"
    assert [p.kind for p in dictionary.problems] == ["invalid_field"]


# -- fingerprint -----------------------------------------------------------------------------


def test_fingerprint_stable_and_path_independent(stage_map, tmp_path):
    first = tmp_path / "a"
    second = tmp_path / "b" / "elsewhere"
    shutil.copytree(CE / "counts_28d", first)
    second.mkdir(parents=True)
    for index, path in enumerate(sorted(first.iterdir(), reverse=True)):
        shutil.copy(path, second / f"{index:02d}_{path.name}")
    one = load_dictionary([first], stage_map)
    assert one.fingerprint == load_dictionary([first], stage_map).fingerprint
    assert one.fingerprint == load_dictionary([second], stage_map).fingerprint
    assert len(one.fingerprint) == 64


def test_fingerprint_changes_with_a_file(stage_map, tmp_path):
    path = write_metric(tmp_path, "users", performance_indicator_type=["gmau"])
    before = load_dictionary([tmp_path], stage_map).fingerprint
    path.write_text(path.read_text().replace("[gmau]", "[gmau, paid_gmau]"))
    assert load_dictionary([tmp_path], stage_map).fingerprint != before


# -- the Dictionary object -------------------------------------------------------------------


def test_dictionary_queries(sample):
    assert sample.stages() == sorted(sample.stages())
    assert "unknown" in sample.stages()
    assert [m.key_path for m in sample.with_indicator("SMAU")] == [
        "usage_activity_by_stage_monthly.secure.user_unique_users_all_secure_scanners",
        "usage_activity_by_stage_monthly.verify.ci_pipelines",
    ]
    assert all(m.stage == "verify" for m in sample.for_stage("verify"))


def test_dictionary_rejects_duplicate_metrics(sample):
    metric = sample.get("counts.source_code_pushes")
    with pytest.raises(ValueError):
        Dictionary([metric, metric])


def test_metric_is_frozen(sample):
    metric = sample.get("counts.source_code_pushes")
    assert isinstance(metric, Metric)
    with pytest.raises(AttributeError):
        metric.stage = "plan"


# -- the default dictionary (fixtures/metrics) -----------------------------------------------


def test_default_dictionary_loads_cleanly(default):
    assert len(default) > 50
    assert default.problems == []
    assert check(default) == []
    assert "unknown" not in default.stages()


@pytest.mark.parametrize("stage", MAIN_STAGES)
def test_default_dictionary_has_one_smau_per_main_stage(default, stage):
    flagged = [m for m in default.with_indicator("smau") if m.stage == stage]
    assert len(flagged) == 1
    assert flagged[0].rolls_up and flagged[0].time_frame == "28d"


def test_default_dictionary_has_one_umau(default):
    assert [m.key_path for m in default.with_indicator("umau")] == ["usage_activity_by_stage_monthly.manage.events"]


def test_default_dictionary_identity_metrics(default):
    for key in ("uuid", "hostname", "version", "edition", "recorded_at", "active_user_count", "installation_type"):
        assert default.get(key).time_frame == "none", key


def test_default_dictionary_keeps_reference_quirks(default):
    assert default.get("usage_activity_by_stage_monthly.manage.projects_with_compliance_framework").time_frame == "all"
    assert default.get("usage_activity_by_stage_monthly.release.deployments").stage == "deploy"
    assert default.get("usage_activity_by_stage_monthly.create.action_monthly_active_users_ide_edit").stage == "create"


@pytest.mark.parametrize("stage", MAIN_STAGES)
def test_default_dictionary_has_feature_counters_per_stage(default, stage):
    assert len([m for m in default.for_stage(stage) if m.rolls_up]) >= 3


# -- optional: the real GitLab reference files, when checked out beside the repo --------------

_REFERENCE = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[2] / "shared" / "reference" / "gitlab-metrics",
            Path("/work/shared/reference/gitlab-metrics"),
        )
        if (path / "config" / "metrics").is_dir()
    ),
    None,
)


@pytest.mark.skipif(_REFERENCE is None, reason="shared reference data not available")
def test_real_reference_definitions_load(stage_map):
    dictionary = load_dictionary([_REFERENCE / "config" / "metrics", _REFERENCE / "ee" / "config" / "metrics"], stage_map)
    assert dictionary.problems == []
    assert len(dictionary) > 40
    assert all(m.stage != "unknown" for m in dictionary)
    assert dictionary.get("usage_activity_by_stage_monthly.create.action_monthly_active_users_ide_edit").stage == "create"


def test_write_metric_helper_writes_valid_yaml(tmp_path, stage_map):
    path = write_metric(tmp_path, "x", product_group="group::source code")
    assert textwrap.dedent(path.read_text()).startswith("---\n")
    assert load_dictionary([tmp_path], stage_map).get("counts_monthly.x").group == "source_code"
