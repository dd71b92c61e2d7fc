"""``assistflow audit verify``: walk the audit log's hash chain, check every event's signature and the
signed checkpoints kept outside the database, and report the first break; ``audit checkpoint`` writes one."""

from __future__ import annotations

import click

from api.extensions import db
from engine.audit import chain, checkpoint


@click.group("audit", help="Audit log / 审计日志")
def audit_cli() -> None:
    pass


@audit_cli.command(
    "seal", help="Seal audit events not yet in the hash chain (the scheduler does it every second)."
)
def audit_seal() -> None:
    sealed = chain.seal_all(db.session)
    click.echo(f"已封存 / sealed {sealed} audit event(s)")


@audit_cli.command(
    "checkpoint",
    help="Verify the chain since the last checkpoint and write a signed checkpoint of its head "
    "(the scheduler does it every ASSISTFLOW_AUDIT_CHECKPOINT_MINUTES).",
)
def audit_checkpoint() -> None:
    chain.seal_all(db.session)  # committed batch by batch: the head lock is not held while verifying
    session = db.session()
    cp, verdict = checkpoint.write(session)
    session.commit()
    if cp is None:
        click.echo(
            f"审计日志被篡改，未写检查点 / audit log BROKEN at event id {verdict.broken_id}: {verdict.reason}; "
            "no checkpoint written",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"检查点 / checkpoint: seq {cp.seq} hash {cp.hash} at {cp.at} in {checkpoint.directory()}")


@audit_cli.command(
    "verify",
    help="Seal pending events, recompute the audit hash chain, check signatures and checkpoints; "
    "exit 1 with the first broken event id.",
)
def audit_verify() -> None:
    sealed = chain.seal_all(db.session)
    verdict = checkpoint.verify(db.session())
    db.session.rollback()
    if sealed:
        click.echo(f"已封存 / sealed {sealed} pending audit event(s) first")
    if verdict.ok:
        anchored = (
            f"matches checkpoint seq {verdict.checkpoint_seq}"
            if verdict.checkpoint_seq is not None
            else f"no checkpoint yet in {checkpoint.directory()}"
        )
        click.echo(
            f"审计日志完整 / audit log intact: {verdict.checked} events "
            f"({verdict.checked - verdict.legacy} signed, {verdict.legacy} legacy unsigned before 0017), "
            f"head seq {verdict.head_seq} hash {verdict.head_hash}, {anchored}"
        )
        return
    where = f"event id {verdict.broken_id}" if verdict.broken_id is not None else "chain head"
    click.echo(
        f"审计日志被篡改 / audit log BROKEN at {where}: {verdict.reason} "
        f"({verdict.checked} events verified before it)",
        err=True,
    )
    raise SystemExit(1)
