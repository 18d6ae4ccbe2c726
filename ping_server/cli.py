"""The `pingtally` command: a Flask-aware click group."""
from __future__ import annotations

import logging

import click
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from workers import queue as rq_queue
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
    for command in (serve, worker, token, import_command, queue):
        app.cli.add_command(command)


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
    """Run one RQ worker on the ping queue (re-queues stuck pings first)."""
    from rq import SimpleWorker

    storage = open_storage()
    queue = open_queue()
    outcome = rq_queue.requeue_stuck(storage, queue, settings())
    if outcome["requeued"]:
        click.echo(f"re-queued {outcome['requeued']} waiting ping(s) found in the archive", err=True)
    # SimpleWorker runs jobs in-process: ~3 ms per job against ~12 ms for a fork per job
    # (bench/bench_worker_class.py). Jobs only touch SQLite, so the isolation of a fork buys little.
    rq_worker = SimpleWorker([queue], connection=queue.connection, name=name)
    rq_worker.work(burst=burst, with_scheduler=True, logging_level="WARNING" if quiet else "INFO")


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


def run():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
