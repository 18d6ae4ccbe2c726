"""Property: the order (and repetition) in which pings are processed never changes an export."""
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from rules_support import RULES_DICTIONARY, Pipeline
from workers import processing
from workers.settings import Settings
from workers.storage import Storage

KINDS = ("smau", "gmau", "paid_gmau", "umau", "cmau", "features", "installations")
value = st.one_of(st.integers(0, 500), st.sampled_from([-1, -2, -3, -1000, True, None]))
ping = st.fixed_dictionaries({
    "uuid": st.sampled_from(["a", "b", "c"]),
    "hostname": st.sampled_from(["one.example", "two.example"]),
    "month": st.integers(1, 4),
    "day": st.sampled_from([1, 2, 15]),
    "hour": st.integers(0, 1),  # collisions give ties on receive time (rule 4: highest id wins)
    "edition": st.sampled_from(["CE", "EEP", "EEU"]),
    "version": st.sampled_from(["15.0.0", "16.11.2-ee", "17.3.0"]),
    "create": value, "verify": value, "pushes": value, "visits": value,
})


def exports_after(pings, order, repeat) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(database=Path(directory) / "p.db", metrics_dirs=(RULES_DICTIONARY,))
        storage = Storage.open(settings)
        pipeline = Pipeline(storage, settings)
        for index, p in enumerate(pings):
            received = f"2026-{p['month']:02d}-{p['day']:02d}T{p['hour']:02d}:00:00.000000Z"
            fields = {k: v for k, v in p.items() if k not in ("month", "day", "hour") and v is not None}
            pipeline.send(received, recorded_at=f"2026-01-01T00:00:{index:02d}Z", **fields)
        ids = pipeline.ping_ids
        for position in order:
            processing.process_ping(storage, ids[position], settings)
        for position in repeat:
            processing.process_ping(storage, ids[position], settings, force=True)
        result = {kind: [{k: v for k, v in row.items() if k != "ping_id"}
                         for row in pipeline.export(kind)] for kind in KINDS}
        result["installations"] = [{k: v for k, v in r.items() if k != "received_at"}
                                   for r in result["installations"]]
        storage.close()
        return result


@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pings=st.lists(ping, min_size=1, max_size=12), data=st.data())
def test_processing_order_does_not_change_any_export(pings, data):
    in_order = list(range(len(pings)))
    shuffled = data.draw(st.permutations(in_order), label="order")
    repeats = data.draw(st.lists(st.sampled_from(in_order), max_size=4), label="repeats")
    assert exports_after(pings, shuffled, repeats) == exports_after(pings, in_order, [])
