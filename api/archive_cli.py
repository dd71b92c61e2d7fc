"""``assistflow archive``: export the archive package (电子档案) of an ended case, verify a package
offline, and list the cases past their retention period (engine.archive)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.extensions import db
from engine.archive import package, retention
from engine.archive import verify as verifier
from engine.audit import chain
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import ServiceError
from engine.instances.models import ProcessInstance


@click.group("archive", help="Electronic case files / 电子档案")
def archive_cli() -> None:
    pass


@archive_cli.command("export", help="Write the archive package (zip) of an ended case to FILE.")
@click.argument("case_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def archive_export(case_id: int, file: Path) -> None:
    chain.seal_all(db.session)  # the case's events carry their chain links in the package
    _export(case_id, file)


@archive_cli.command(
    "export-ended",
    help="Write the package of every ended case not archived yet into DIRECTORY (run it daily, e.g. by cron).",
)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def archive_export_ended(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    chain.seal_all(db.session)
    ids = package.not_yet_archived(db.session())
    db.session.rollback()
    for case_id in ids:
        instance = db.session.get(ProcessInstance, case_id)
        assert instance is not None
        _export(case_id, directory / package.package_name(instance))
    click.echo(f"{len(ids)} 件已办结案件已归档 / ended case(s) archived into {directory}")


def _export(case_id: int, file: Path) -> None:
    """One package written (whole or not at all) and audited, in its own transaction."""
    session = db.session()
    partial = file.with_name(file.name + ".part")
    try:
        manifest = package.export(session, case_id, partial, now=dt.datetime.now(dt.UTC))
    except ServiceError as exc:
        session.rollback()
        partial.unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from None
    except BaseException:
        session.rollback()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(file)
    audit.record(
        session,
        AuditAction.ARCHIVE_EXPORTED,
        instance_id=case_id,
        details={"files": len(manifest["files"]), "manifest_key_id": manifest["signature"]["key_id"]},
    )
    session.commit()
    click.echo(f"已导出 / exported case {case_id}: {len(manifest['files'])} files + manifest → {file}")


@archive_cli.command("verify", help="Check an archive package offline; exit 1 naming every problem.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def archive_verify(file: Path) -> None:
    verdict = verifier.verify(file)
    if not verdict.ok:
        for problem in verdict.problems:
            click.echo(f"✗ {problem}", err=True)
        click.echo(f"档案包未通过核验 / archive package REFUSED: {file}", err=True)
        raise SystemExit(1)
    click.echo(
        f"档案包完好 / archive package verified: case {verdict.case_number or '—'}, "
        f"{verdict.files} files, {verdict.events} audit events, manifest signature valid"
    )


@archive_cli.command("retention", help="List ended cases past their procedure's retention period.")
@click.option("--at", "at", type=click.DateTime(formats=["%Y-%m-%d"]), help="as of this date (default today)")
@with_appcontext
def archive_retention(at: dt.datetime | None) -> None:
    try:
        config = retention.periods()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    now = at.replace(tzinfo=dt.UTC) if at is not None else dt.datetime.now(dt.UTC)
    due = retention.past_retention(db.session(), now, config)
    db.session.rollback()
    for d in due:
        click.echo(
            f"{d.instance_id}\t{d.process_key}\t{d.business_key or '—'}\t"
            f"ended {d.ended_at.date().isoformat()}\tretention {d.years} years"
        )
    click.echo(f"{len(due)} 件案件已过保存期限 / case(s) past retention (as of {now.date().isoformat()})")
