"""`pingtally queue status` and `queue requeue-failed`, added to cli.py's `queue` group."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from tabulate import tabulate

from workers import ops

from .cli import open_queue, open_storage, queue
from .db import settings
from .ops import duration


def render_status(picture: dict) -> str:
    """The operator's picture as plain-text tables."""
    lines = [f"pingtally queue status at {picture['generated_at'][:19]}Z"]
    redis = picture["redis"]
    lines.append("Redis: ok" if redis["ok"] else f"Redis: NOT ANSWERING ({redis['error']})")

    if picture["queues"]:
        rows = [[q["name"], q["queued"], duration(q["oldest_queued_age_seconds"], "-"),
                 q["started"], q["failed"], q["deferred"], q["scheduled"], q["finished"]]
                for q in picture["queues"]]
        lines += ["", tabulate(rows, headers=["queue", "queued", "oldest", "started", "failed",
                                              "deferred", "scheduled", "finished"])]

    pipeline = picture["pipeline"]
    lag, throughput, pings = pipeline["lag"], pipeline["throughput"], pipeline["pings"]
    lines += [
        "",
        f"pipeline    {lag['waiting']} ping(s) waiting in SQLite, oldest "
        f"{duration(lag['oldest_waiting_age_seconds'], '-')}; "
        f"{lag['never_enqueued']} never reached Redis, {lag['retrying']} between retries",
        f"throughput  {throughput['processed_last_5m']} in 5 min "
        f"({throughput['per_minute_last_5m']}/min), {throughput['processed_last_60m']} in 60 min; "
        f"{throughput['failed_last_60m']} failed in 60 min",
        f"archive     {pings['processed']} processed, {pings['failed']} failed, "
        f"{pings['queued']} queued",
    ]

    lines.append("")
    if picture["workers"]:
        rows = [[w["name"], w["state"],
                 {False: "GONE", True: "running", None: "other host"}[w["alive"]],
                 w["current_job"] or "-", duration(w["heartbeat_age_seconds"], "-") + " ago",
                 w["successful_jobs"], w["failed_jobs"]] for w in picture["workers"]]
        lines.append(tabulate(rows, headers=["worker", "state", "process", "current job",
                                             "heartbeat", "ok", "failed"]))
    elif redis["ok"]:
        lines.append("no worker registered (start one: pingtally worker)")

    failures = picture["failures"]
    if failures["fingerprints"]:
        rows = [[f["fingerprint"], f["count"], _clip(f"{f['exception']}: {f['message']}", 70),
                 ",".join(map(str, f["sample_ping_ids"]))] for f in failures["fingerprints"]]
        lines += ["", f"{failures['failed_pings']} failed ping(s):",
                  tabulate(rows, headers=["fingerprint", "pings", "error", "examples"])]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@queue.command("status")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON (as GET /api/v1/queues).")
@with_appcontext
def status(as_json):
    """Queues, workers, pipeline lag, throughput and failures at a glance."""
    storage = open_storage()
    picture = ops.overview(storage, open_queue().connection, settings())
    if as_json:
        click.echo(json.dumps(picture, indent=2))
    else:
        click.echo(render_status(picture))


@queue.command("requeue-failed")
@click.option("--fingerprint", default=None,
              help="Only pings whose error has this fingerprint (see `queue status`).")
@with_appcontext
def requeue_failed(fingerprint):
    """Put failed pings back on the queue (all of them, or one fingerprint)."""
    outcome = ops.requeue_failed(open_storage(), open_queue(), settings(), fingerprint)
    if not outcome["matched"]:
        click.echo("no failed ping matches"
                   + (f" fingerprint {fingerprint}" if fingerprint else ""))
        return
    click.echo(f"{outcome['requeued']} failed ping(s) re-queued, "
               f"{outcome['enqueued']} reached Redis")
    if outcome["enqueued"] < outcome["requeued"]:
        click.echo("Redis did not answer for the rest; they wait in the archive for "
                   "`pingtally queue requeue-stuck`")
