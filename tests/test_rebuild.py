"""`pingtally rebuild`: everything derived can be recomputed from the archive, idempotently."""
import shutil

from rules_support import CREATE_SMAU, RULES_DICTIONARY
from workers import rebuild


def fill(pipeline):
    for month, create in (("01", 10), ("02", 20), ("03", 30)):
        pipeline.send(f"2026-{month}-10T00:00:00.000000Z", uuid="a", create=create, pushes=int(month) * 100)
        pipeline.send(f"2026-{month}-12T00:00:00.000000Z", uuid="b", edition="CE", create=create + 1)
    pipeline.process()


def test_rebuild_reproduces_the_incremental_result_and_twice_changes_nothing(pipeline):
    fill(pipeline)
    before = {kind: pipeline.export(kind) for kind in ("smau", "features", "installations")}
    first = rebuild.rebuild(pipeline.storage, pipeline.settings)
    assert first.pings == 6 and not first.failed
    assert first.changed_months == []
    assert {kind: pipeline.export(kind) for kind in before} == before
    second = rebuild.rebuild(pipeline.storage, pipeline.settings)
    assert second.changed_months == []


def test_partial_rebuild_keeps_later_months_right(pipeline):
    fill(pipeline)
    before = pipeline.export("features")
    report = rebuild.rebuild(pipeline.storage, pipeline.settings, first="2026-02", last="2026-02")
    assert report.pings == 2
    assert pipeline.export("features") == before


def test_rebuild_after_a_dictionary_change_reports_what_changed(pipeline, tmp_path, monkeypatch, runner_factory):
    fill(pipeline)
    changed = tmp_path / "dict"
    shutil.copytree(RULES_DICTIONARY, changed)
    (changed / "verify_smau.yml").unlink()
    text = (changed / "create_smau.yml").read_text()
    (changed / "create_smau.yml").write_text(text.replace("[smau, gmau, paid_gmau]", "[gmau]"))
    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(changed))
    app, _, _ = runner_factory()
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["dictionary", "load"])
    assert "1 dropped" in loaded.output, loaded.output
    result = runner.invoke(args=["rebuild"])
    assert result.exit_code == 0, result.output
    assert "6 pings replayed, 0 failed" in result.output
    assert "2026-03:" in result.output and "removed" in result.output
    assert pipeline.row("smau", "2026-03", CREATE_SMAU) is None  # no longer flagged smau
    again = runner.invoke(args=["rebuild"])
    assert "no rollup changed" in again.output
