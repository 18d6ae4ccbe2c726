"""DESIGN.md monthly rules 3-6: which ping stands for a month, valid values, monthly values."""
from rules_support import CREATE_SMAU, PUSHES


def smau(pipeline, month, key=CREATE_SMAU):
    return pipeline.row("smau", month, key)


def test_rule3_month_is_the_receive_month_not_the_recorded_one(pipeline):
    pipeline.send("2026-02-01T00:10:00.000000Z", recorded_at="2026-01-31T23:00:00Z", create=7)
    pipeline.process()
    assert smau(pipeline, "2026-02")["recorded"] == 7
    assert smau(pipeline, "2026-01") is None


def test_rule4_the_later_ping_of_the_month_replaces_the_earlier(pipeline):
    pipeline.send("2026-02-03T00:00:00.000000Z", create=10)
    pipeline.send("2026-02-20T00:00:00.000000Z", create=30)
    pipeline.process()
    assert smau(pipeline, "2026-02")["recorded"] == 30
    assert smau(pipeline, "2026-02")["reporting_installations"] == 1


def test_rule4_holds_when_pings_are_processed_out_of_order(pipeline):
    early = pipeline.send("2026-02-03T00:00:00.000000Z", create=10)
    late = pipeline.send("2026-02-20T00:00:00.000000Z", create=30)
    pipeline.process([late, early])
    assert smau(pipeline, "2026-02")["recorded"] == 30


def test_rule4_ties_go_to_the_highest_id(pipeline):
    first = pipeline.send("2026-02-10T00:00:00.000000Z", recorded_at="2026-02-09T00:00:00Z", create=10)
    second = pipeline.send("2026-02-10T00:00:00.000000Z", recorded_at="2026-02-09T01:00:00Z", create=20)
    assert second > first
    pipeline.process([second, first])
    assert smau(pipeline, "2026-02")["recorded"] == 20


def test_rule4_a_later_ping_with_a_failure_replaces_a_valid_earlier_value(pipeline):
    pipeline.send("2026-02-03T00:00:00.000000Z", create=10)
    pipeline.send("2026-02-20T00:00:00.000000Z", create=-1)
    pipeline.process()
    row = smau(pipeline, "2026-02")
    assert (row["recorded"], row["reporting_installations"], row["failing_installations"]) == (0, 0, 1)


def test_rule5_failure_codes_and_booleans_are_excluded_and_counted(pipeline):
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="a", create=-1)
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="b", create=True)
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="c", create={"-1": -1})
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="d", create="12")
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="e", create=-1000)
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="f", create=5)
    pipeline.send("2026-03-02T00:00:00.000000Z", uuid="g", create=0)
    pipeline.process()
    row = smau(pipeline, "2026-03")
    assert row["recorded"] == 5
    assert row["reporting_installations"] == 2  # f and g: 0 is a valid value
    assert row["failing_installations"] == 5
    codes = dict(pipeline.storage.conn.execute(
        "SELECT i.uuid, f.code FROM snapshot_failures f JOIN installations i ON i.id = f.installation_id"))
    assert codes == {"a": "-1", "b": "boolean", "c": "histogram", "d": "string", "e": "-1000"}


def test_rule5_failures_are_counted_per_ping(pipeline, storage):
    ping_id = pipeline.send("2026-03-02T00:00:00.000000Z", create=-2, verify=-3, pushes=4)
    pipeline.process()
    assert storage.ping(ping_id)["failures"] == 2


def monthly_pushes(pipeline):
    return {r["month"]: r["total"] for r in pipeline.export("features") if r["key_path"] == PUSHES
            and r["reporting_installations"]}


def test_rule6_all_time_counter_skips_a_month_resets_and_fails(pipeline):
    pipeline.send("2026-01-10T00:00:00.000000Z", pushes=100)   # first month: the full value
    # February: no ping at all
    pipeline.send("2026-03-10T00:00:00.000000Z", pushes=150)   # growth since January
    pipeline.send("2026-04-10T00:00:00.000000Z", pushes=20)    # reset: never negative
    pipeline.send("2026-05-10T00:00:00.000000Z", pushes=-1)    # failure: no value this month
    pipeline.send("2026-06-10T00:00:00.000000Z", pushes=60)    # growth since April's 20
    pipeline.process()
    assert monthly_pushes(pipeline) == {"2026-01": 100, "2026-03": 50, "2026-04": 0, "2026-06": 40}


def test_rule6_a_late_earlier_month_fixes_the_next_months_delta(pipeline):
    march = pipeline.send("2026-03-10T00:00:00.000000Z", pushes=150)
    january = pipeline.send("2026-01-10T00:00:00.000000Z", pushes=100)
    pipeline.process([march])
    assert monthly_pushes(pipeline) == {"2026-03": 150}
    pipeline.process([january])
    assert monthly_pushes(pipeline) == {"2026-01": 100, "2026-03": 50}


def test_rule6_a_replaced_snapshot_fixes_the_next_month(pipeline):
    pipeline.send("2026-01-05T00:00:00.000000Z", pushes=100)
    pipeline.send("2026-02-05T00:00:00.000000Z", pushes=180)
    late_january = pipeline.send("2026-01-28T00:00:00.000000Z", pushes=130)
    pipeline.process([i for i in pipeline.ping_ids if i != late_january])
    assert monthly_pushes(pipeline) == {"2026-01": 100, "2026-02": 80}
    pipeline.process([late_january])
    assert monthly_pushes(pipeline) == {"2026-01": 130, "2026-02": 50}


def test_rule6_28d_metric_is_its_value_in_the_last_ping(pipeline):
    pipeline.send("2026-01-05T00:00:00.000000Z", create=40)
    pipeline.send("2026-02-05T00:00:00.000000Z", create=10)
    pipeline.process()
    assert smau(pipeline, "2026-02")["recorded"] == 10  # not a delta


def test_7d_metrics_are_not_rolled_up(pipeline):
    pipeline.send("2026-01-05T00:00:00.000000Z", create=1,
                  counts_weekly={"aggregated_metrics": {"code_review_category_monthly_active_users": 9}})
    pipeline.process()
    keys = {r["key_path"] for r in pipeline.export("features")}
    assert "counts_weekly.aggregated_metrics.code_review_category_monthly_active_users" not in keys
    assert CREATE_SMAU in keys


def test_processing_a_ping_twice_changes_nothing(pipeline):
    from workers import processing

    ping_id = pipeline.send("2026-01-05T00:00:00.000000Z", create=40, pushes=5)
    pipeline.process()
    before = pipeline.export("features")
    processing.process_ping(pipeline.storage, ping_id, pipeline.settings, force=True)
    assert pipeline.export("features") == before
