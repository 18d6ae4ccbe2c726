"""The `pingtally` command: a Flask-aware click group."""
from __future__ import annotations

import json
import logging
import signal
import sys
import time

import click
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from workers import catalog, exports
from workers import queue as rq_queue
from workers import rebuild as rebuild_module
from workers.dictionary import check as check_dictionary
from workers.installations import format_timestamp, utc_now
from workers.storage import Storage

from . import create_app
from .auth import api_token
from .db import settings
from .importer import import_lines


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False,
             load_dotenv=False, set_debug_flag=False)
def main():
    """pingtally: receive GitLab Service Pings and roll them up into monthly figures."""


main.add_command(shell_command)
main.add_command(routes_command)


def init_app(app) -> None:
    """Commands live on app.cli, so `pingtally X` and app.test_cli_runner() both find them."""
    from . import ops_cli  # noqa: F401  (adds `queue status` and `queue requeue-failed`)

    for command in (serve, worker, token, import_command, queue, dictionary, rebuild, export,
                    simulate):
        app.cli.add_command(command)


REBUILD_CACHE_MIB = 1024


def open_storage() -> Storage:
    return Storage.open(settings())


def open_queue():
    return rq_queue.ping_queue(rq_queue.connect(settings().redis_url), settings())


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "processes", default=2, show_default=True, type=int,
              help="Web server processes.")
@click.option("--timeout", default=30, show_default=True, type=int)
def serve(host, port, processes, timeout):
    """Serve HTTP with gunicorn (a production WSGI server)."""
    from gunicorn.app.base import BaseApplication

    from flask import current_app

    app = current_app._get_current_object()

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", processes)
            self.cfg.set("timeout", timeout)
            self.cfg.set("accesslog", "-")
            self.cfg.set("proc_name", "pingtally-web")

        def load(self):
            return app

    Server().run()


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@click.option("--quiet", is_flag=True, help="Log warnings only.")
@with_appcontext
def worker(burst, name, quiet):
    """Run one RQ worker on the ping queue (re-queues stuck pings first).

    When Redis goes away RQ's worker returns; this one waits for Redis and starts again, so a
    Redis restart never needs the worker restarted by hand (only a stop signal or --burst ends it).
    """
    from redis.exceptions import RedisError
    from rq import SimpleWorker

    storage = open_storage()
    while True:
        try:
            queue = open_queue()
            outcome = rq_queue.requeue_stuck(storage, queue, settings())
            if outcome["requeued"]:
                click.echo(f"re-queued {outcome['requeued']} waiting ping(s) found in the archive",
                           err=True)
            # SimpleWorker runs jobs in-process: ~3 ms per job against ~12 ms for a fork per
            # job. Jobs only touch SQLite, so the isolation of a fork buys little.
            rq_worker = SimpleWorker([queue], connection=queue.connection, name=name)
            rq_worker.work(burst=burst, with_scheduler=True,
                           logging_level="WARNING" if quiet else "INFO")
        except RedisError as exc:
            click.echo(f"Redis unavailable ({type(exc).__name__}); retrying in {REDIS_RETRY_SECONDS} s",
                       err=True)
            _wait_before_restart()
            continue
        # RQ records a SIGTERM/SIGINT as a shutdown request (whether it was idle or busy).
        if burst or rq_worker._stop_requested or rq_worker._shutdown_requested_date:
            return
        click.echo("RQ worker stopped without a stop request (Redis went away?); starting again",
                   err=True)
        _wait_before_restart()


REDIS_RETRY_SECONDS = 2


def _wait_before_restart():
    """Sleep before starting RQ's worker again; a stop signal meanwhile ends the worker cleanly
    (RQ's own signal handlers outlive its loop and would otherwise swallow it)."""
    def stop_now(signum, frame):
        click.echo("stop requested while waiting for Redis; exiting", err=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGINT, stop_now)
    time.sleep(REDIS_RETRY_SECONDS)


@click.command()
@with_appcontext
def token():
    """Print the API token (creating one on first use when PINGTALLY_API_TOKEN is unset)."""
    click.echo(api_token(open_storage()))


@click.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--no-queue", is_flag=True, help="Archive only; queue later with requeue-stuck.")
@with_appcontext
def import_command(source, no_queue):
    """Import NDJSON pings from SOURCE (a file, or - for stdin).

    Each line is {"received_at": ISO 8601, "payload": {...}} or a bare payload (received now).
    """
    storage = open_storage()
    queue = None if no_queue else open_queue()

    def progress(report):
        click.echo(f"  line {report.lines}: {report.accepted} accepted, {report.duplicates} "
                   f"duplicates, {report.rejected_count} rejected", err=True)

    report = import_lines(source, storage, queue, settings(), progress=progress)
    click.echo(f"{report.lines} lines: {report.accepted} accepted, {report.duplicates} duplicates, "
               f"{report.rejected_count} rejected")
    if report.waiting:
        click.echo(f"{report.waiting} accepted ping(s) wait in the archive (Redis unreachable "
                   "or --no-queue); run `pingtally queue requeue-stuck`")
    for number, reason in report.rejected:
        click.echo(f"  line {number}: {reason}")
    if report.rejected_count > len(report.rejected):
        click.echo(f"  ... and {report.rejected_count - len(report.rejected)} more")


@click.group()
def queue():
    """Inspect and repair the ping queue."""


@queue.command("requeue-stuck")
@with_appcontext
def requeue_stuck():
    """Enqueue pings that wait in the archive but have no job in Redis."""
    outcome = rq_queue.requeue_stuck(open_storage(), open_queue(), settings())
    click.echo(f"{outcome['waiting']} ping(s) waiting, {outcome['requeued']} re-queued")
    if outcome["failed"]:
        click.echo(f"{outcome['failed']} ping(s) marked failed: their worker died on every attempt")


@click.group()
def dictionary():
    """Load, show and check the metric dictionary."""


@dictionary.command("load")
@with_appcontext
def dictionary_load():
    """Load PINGTALLY_METRICS_DIRS (default: the bundled dictionary) into the database."""
    loaded = catalog.configured_dictionary(settings())
    outcome = catalog.store(open_storage(), loaded)
    click.echo(f"{outcome['metrics']} metrics loaded ({outcome['added']} new, "
               f"{outcome['dropped']} dropped), fingerprint {loaded.fingerprint[:12]}")
    if loaded.problems:
        click.echo(f"{len(loaded.problems)} problem(s) while reading; see `pingtally dictionary check`")
    click.echo("run `pingtally rebuild` to apply it to the archived pings")


@dictionary.command("show")
@click.option("--stage", default=None, help="Only this stage.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def dictionary_show(stage, as_json):
    """List the metrics of the configured dictionary."""
    loaded = catalog.configured_dictionary(settings())
    metrics = [m for m in loaded if stage is None or m.stage == stage]
    if as_json:
        click.echo(json.dumps([catalog.metric_row(m) for m in metrics], indent=2))
        return
    rows = [(m.stage, m.group or "-", m.time_frame, m.activity, ",".join(m.indicators) or "-",
             m.key_path) for m in sorted(metrics, key=lambda m: (m.stage, m.group or "", m.key_path))]
    header = ("stage", "group", "time", "activity", "indicators", "key_path")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + row[5])
    click.echo(f"{len(metrics)} metrics")


@dictionary.command("check")
@with_appcontext
def dictionary_check():
    """Report unknown stages, double-counted SMAU, duplicate key paths, invalid files."""
    loaded = catalog.configured_dictionary(settings())
    problems = check_dictionary(loaded)
    for problem in problems:
        click.echo(f"{problem.kind}: {problem}")
    click.echo(f"{len(loaded)} metrics, {len(problems)} problem(s)")
    if problems:
        sys.exit(1)


@click.command()
@click.option("--from", "first", default=None, help="First month (YYYY-MM).")
@click.option("--to", "last", default=None, help="Last month (YYYY-MM).")
@with_appcontext
def rebuild(first, last):
    """Recompute snapshots and rollups from the archive (e.g. after a dictionary change)."""
    for name, value in (("--from", first), ("--to", last)):
        if value and not exports.MONTH.match(value):
            raise click.BadParameter(f"{value!r} is not YYYY-MM", param_hint=name)
    # Derived data only (durable=False); a large page cache keeps a whole month's snapshot
    # index in memory while it is rewritten.
    storage = Storage.open(settings(), durable=False, cache_mib=REBUILD_CACHE_MIB)
    catalog.ensure_loaded(storage, settings())
    report = rebuild_module.rebuild(storage, settings(), first, last,
                                    progress=lambda text: click.echo(f"  {text}", err=True))
    click.echo(f"{report.pings} pings replayed, {len(report.failed)} failed")
    for ping_id, error in report.failed[:20]:
        click.echo(f"  ping {ping_id}: {error}")
    changed = report.changed_months
    if not changed:
        click.echo("no rollup changed")
    for month in changed:
        c = report.months[month]
        click.echo(f"  {month}: {c['added']} rows added, {c['removed']} removed, {c['changed']} changed")


@click.command()
@click.argument("kind", type=click.Choice(exports.KINDS))
@click.option("--from", "first", default=None, help="First month (YYYY-MM).")
@click.option("--to", "last", default=None, help="Last month (YYYY-MM).")
@click.option("--stage", default=None)
@click.option("--by", type=click.Choice(exports.BREAKDOWNS), default=None)
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), default="csv", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@with_appcontext
def export(kind, first, last, stage, by, fmt, output):
    """Export a rollup (smau gmau paid_gmau umau cmau features installations)."""
    request = exports.ExportRequest(kind, first, last, stage, by, fmt)
    try:
        request.validate()
    except exports.ExportError as exc:
        raise click.UsageError(str(exc)) from None
    for chunk in exports.render(open_storage(), request):
        output.write(chunk)


@click.command()
@click.option("--installations", default=40, show_default=True)
@click.option("--months", default=6, show_default=True, help="Months of weekly pings, up to now.")
@click.option("--seed", default=7, show_default=True)
@click.option("--padding", default=0, show_default=True,
              help="Extra synthetic counters per payload (benchmarks use ~2,000).")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@with_appcontext
def simulate(installations, months, seed, padding, output):
    """Write a synthetic fleet's weekly pings as NDJSON (for demos and benchmarks)."""
    from workers.fleet import Fleet, MetricSpec, month_start, padding_specs

    loaded = catalog.configured_dictionary(settings())
    specs = [MetricSpec(m.key_path, m.time_frame, m.stage) for m in loaded
             if m.value_type == "number"] + padding_specs(padding)
    fleet = Fleet(specs, installations=installations, seed=seed)
    start = month_start(months - 1)
    weeks = months * 52 // 12
    now = format_timestamp(utc_now())
    count = 0
    for received_at, payload in fleet.pings(start, weeks):
        if received_at > now:
            continue
        output.write(json.dumps({"received_at": received_at, "payload": payload}) + "\n")
        count += 1
    click.echo(f"{count} pings from {installations} installations over {months} months", err=True)


def run():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
