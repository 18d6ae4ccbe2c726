"""`pingtally rebuild`: everything derived can be recomputed from the archive, idempotently."""
import shutil
import sqlite3

import pytest

from rules_support import CREATE_SMAU, RULES_DICTIONARY
from workers import rebuild


def fill(pipeline):
    for month, create in (("01", 10), ("02", 20), ("03", 30)):
        pipeline.send(f"2026-{month}-10T00:00:00.000000Z", uuid="a", create=create, pushes=int(month) * 100)
        pipeline.send(f"2026-{month}-12T00:00:00.000000Z", uuid="b", edition="CE", create=create + 1)
    pipeline.process()


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


def fill_weekly(pipeline):
    """Weekly pings with growing counters, and one ping for January received late (in March)."""
    for day, create, pushes in (("01-05", 5, 100), ("01-12", 6, 150), ("01-26", 7, 210),
                                ("02-02", 8, 260), ("02-16", 9, 300), ("03-02", 10, 420)):
        pipeline.send(f"2026-{day}T00:00:00.000000Z", uuid="a", create=create, pushes=pushes)
        pipeline.send(f"2026-{day}T06:00:00.000000Z", uuid="b", create=create * 2, pushes=pushes * 3)
    pipeline.send("2026-03-05T00:00:00.000000Z", uuid="a", recorded_at="2026-01-30T00:00:00Z",
                  create=50, pushes=240)
    pipeline.process()


@pytest.mark.parametrize("fill_archive, pings", [(fill, 6), (fill_weekly, 13)],
                         ids=["monthly", "weekly-with-a-late-ping"])
def test_rebuild_reproduces_the_incremental_result_and_twice_changes_nothing(pipeline, fill_archive,
                                                                              pings):
    fill_archive(pipeline)
    before = {kind: pipeline.export(kind) for kind in ("smau", "features", "installations")}
    first = rebuild.rebuild(pipeline.storage, pipeline.settings)
    assert first.pings == pings and not first.failed
    assert first.changed_months == []
    assert {kind: pipeline.export(kind) for kind in before} == before
    # every ping is processed again, also those that do not stand for their month
    assert {pipeline.storage.ping(i)["status"] for i in pipeline.ping_ids} == {"processed"}
    second = rebuild.rebuild(pipeline.storage, pipeline.settings)
    assert second.changed_months == []


def test_rebuild_releases_the_write_lock_between_transactions(pipeline, monkeypatch):
    """Ingest must keep working during a long rebuild: between its transactions another
    connection can take the write lock at once, and sees the work done so far."""
    fill_weekly(pipeline)
    monkeypatch.setattr(rebuild, "BATCH", 1)
    monkeypatch.setattr(rebuild, "TRANSACTION_SECONDS", 0)  # one batch per transaction
    seen = []

    def progress(message):
        if "replayed" not in message:
            return
        other = sqlite3.connect(pipeline.settings.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the rebuild held it
            seen.append(other.execute("SELECT count(*) FROM snapshots").fetchone()[0])
            other.execute("ROLLBACK")
        finally:
            other.close()

    report = rebuild.rebuild(pipeline.storage, pipeline.settings, progress=progress)
    assert report.pings == 13
    assert len(seen) == 13  # one transaction per ping
    assert seen == sorted(seen) and seen[0] == 1 and seen[-1] == 6  # 2 installations x 3 months
