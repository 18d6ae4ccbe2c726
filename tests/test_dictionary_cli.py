"""`pingtally dictionary load|show|check` and the dictionary as stored in SQLite."""
import shutil

from rules_support import RULES_DICTIONARY


def test_check_passes_on_the_bundled_dictionary(runner):
    result = runner.invoke(args=["dictionary", "check"])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output


def test_check_fails_on_double_counted_smau_and_unknown_stage(tmp_path, monkeypatch, runner_factory):
    shutil.copytree(RULES_DICTIONARY, tmp_path / "d")
    text = (RULES_DICTIONARY / "visits.yml").read_text()
    (tmp_path / "d" / "visits.yml").write_text(text.replace("product_group: optimize", "product_group: source_code")
                                               .replace("tiers:", "performance_indicator_type: [smau]\ntiers:"))
    (tmp_path / "d" / "mystery.yml").write_text(text.replace("product_group: optimize", "product_group: no_such_group")
                                                .replace("analytics_unique_visits_for_any_target_monthly", "x"))
    (tmp_path / "d" / "broken.yml").write_text("key_path: [unclosed\n")
    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(tmp_path / "d"))
    app, _, _ = runner_factory()
    result = app.test_cli_runner().invoke(args=["dictionary", "check"])
    assert result.exit_code == 1
    assert "smau_double_count" in result.output and "create" in result.output
    assert "unknown_stage" in result.output
    assert "broken.yml" in result.output


def test_show_lists_a_stage(runner):
    result = runner.invoke(args=["dictionary", "show", "--stage", "verify"])
    assert result.exit_code == 0
    assert "usage_activity_by_stage_monthly.verify.ci_pipelines" in result.output
    assert "create" not in result.output.split("\n", 1)[1].split()[:1]


def test_load_keeps_metric_ids_stable(runner, storage):
    runner.invoke(args=["dictionary", "load"])
    ids = dict(storage.conn.execute("SELECT key_path, id FROM metrics"))
    result = runner.invoke(args=["dictionary", "load"])
    assert "0 new, 0 dropped" in result.output
    assert dict(storage.conn.execute("SELECT key_path, id FROM metrics")) == ids


def test_analyst_views_are_queryable(pipeline):
    pipeline.send("2026-03-10T00:00:00.000000Z", create=10, verify=2, umau=5)
    pipeline.process()
    from workers import rollups

    rollups.ensure_fresh(pipeline.storage)
    db = pipeline.storage.db
    assert {v for v in db.view_names()} >= {"smau", "gmau", "paid_gmau", "umau", "cmau",
                                             "feature_use", "monthly_installations", "rollup_rows"}
    assert list(db.query("SELECT recorded, stages FROM cmau")) == [{"recorded": 12, "stages": 2}]
    assert next(db.query("SELECT count(*) AS n FROM monthly_installations"))["n"] == 1
