"""Documents generated from a case's step records: which kinds exist, which a case can print now, and
printing one — generated once, then kept as an attachment of the step that produced it, so that every
reprint returns the very same PDF (same SHA-256).

A kind names its procedure, the step whose record decides it (the 受理 step for the acceptance and
refusal notices) and the outcome it prints; it is available once that step's latest record has that
outcome. The first print renders the template (:mod:`engine.documents.render`), encrypts and stores the
PDF as an ``Attachment`` of that step (field ``document:<kind>``) and is audited as
``document.generated`` (content hash and PDF hash); a reprint reads the stored file and is audited as an
``attachment.downloaded`` (channel ``print``). A step run again (a send-back) has a new record and task,
hence a new document.

Personal numbers on a printed notice: the applicant's ID number is printed masked (area code and last
four digits, ``310107********1234``), as every default view shows it. The notice is handed to the
applicant, who knows the number, and may be left lying about; the full number stays in the case record.
The applicant's name is printed when the case names its applicant (its household link) and the name is
known (not the placeholder 待补登), else "申请人".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.attachments import cipher
from engine.attachments import service as attachments
from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.documents import casefile, plans, render, samples, template_versions
from engine.documents import values as V
from engine.errors import Conflict, NotFound
from engine.forms.model import _text, msg
from engine.households.links import parties
from engine.households.people import UNKNOWN_NAME
from engine.instances import service as instances
from engine.orgs.models import OrgUnit
from engine.records import service as records
from engine.records.models import StepRecord
from engine.users.models import User

FIELD_PREFIX = "document:"
CA = "comprehensive_assistance"
APPROVAL_STEPS = ("street_approval", "district_approval")


@dataclass(frozen=True)
class Kind:
    name: str
    title: dict[str, str]
    template: str
    process_key: str
    steps: tuple[str, ...]  # the steps whose latest record decides it (the document is attached to it)
    applies: Callable[[dict[str, Any]], bool]  # on that record's data
    not_yet: str  # why it cannot be printed while the step has no such record
    # what fills the template (session, case, kind, deciding record); None: the comprehensive-assistance notices'
    values: Callable[..., dict[str, Any]] | None = None

    def label(self, locale: str = "zh") -> str:
        return _text(self.title, locale) or self.name


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "acceptance_notice",
            {"zh": "受理通知书", "en": "Acceptance notice"},
            "acceptance_notice.html",
            CA,
            ("acceptance",),
            lambda d: d.get("accepted") is True,
            msg("案件尚未决定予以受理，不能打印受理通知书", "The case has not been accepted"),
        ),
        Kind(
            "refusal_notice",
            {"zh": "不予受理告知书", "en": "Notice of non-acceptance"},
            "refusal_notice.html",
            CA,
            ("acceptance",),
            lambda d: d.get("accepted") is False,
            msg("案件没有不予受理的决定，不能打印不予受理告知书", "The case was not refused at acceptance"),
        ),
        Kind(
            "non_approval_notice",
            {"zh": "不予批准告知书", "en": "Notice of non-approval"},
            "non_approval_notice.html",
            CA,
            APPROVAL_STEPS,
            lambda d: d.get("approval_decision") == "reject",
            msg("案件没有不予批准的决定，不能打印不予批准告知书", "The case was not refused at approval"),
        ),
        Kind(
            "approval_form",
            {"zh": "市民综合帮扶审批表", "en": "Approval form"},
            "approval_form.html",
            CA,
            APPROVAL_STEPS,
            lambda d: d.get("approval_decision") in ("approve", "reject"),
            msg("案件尚未审批，不能打印审批表", "The case has not been decided at approval yet"),
        ),
        Kind(
            "household_plan",
            {"zh": "一户一策帮扶计划", "en": "One-household plan"},
            "household_plan.html",
            "bridge_plan_household",
            ("household_plan",),
            lambda d: d.get("family_withdraws") is False,
            msg("尚未制定一户一策帮扶计划，不能打印", "The household's plan has not been made yet"),
            plans.household_plan,
        ),
        Kind(
            "twinning_agreement",
            {"zh": "牵手计划四方协议", "en": "Twinning four-party agreement"},
            "twinning_agreement.html",
            "twinning",
            ("agency_selection",),
            lambda d: True,
            msg("尚未遴选派出机构，不能打印四方协议", "The dispatching agency has not been selected yet"),
            plans.twinning_agreement,
        ),
        Kind(
            casefile.NAME,
            casefile.TITLE,
            casefile.TEMPLATE,
            "*",  # every procedure's case, once it has ended (engine.documents.casefile)
            (),
            lambda d: True,
            msg("案件尚未办结，不能打印一户一档", "The case has not ended yet"),
        ),
    )
}


def kind_of(name: str) -> Kind:
    found = KINDS.get(name)
    if found is None:
        raise NotFound(msg(f"没有这种文书：{name}", f"no such document: {name}"))
    return found


def _decision(session: Session, instance: Any, kind: Kind) -> StepRecord | None:
    found = [r for r in (records.latest(session, instance.id, step) for step in kind.steps) if r is not None]
    record = max(found, key=lambda r: (r.completed_at, r.id)) if found else None
    return record if record is not None and kind.applies(record.data or {}) else None


def available(session: Session, instance: Any) -> list[Kind]:
    """The kinds this case can print now (its procedure's, whose deciding record has their outcome)."""
    kinds = [
        k
        for k in KINDS.values()
        if k.process_key == instance.process_key and _decision(session, instance, k) is not None
    ]
    return kinds + ([KINDS[casefile.NAME]] if casefile.closed(instance) else [])


def _stored(session: Session, record: StepRecord, kind: Kind) -> Attachment | None:
    return session.scalar(
        select(Attachment)
        .where(Attachment.task_id == record.task_id, Attachment.field == FIELD_PREFIX + kind.name)
        .order_by(Attachment.id)
        .limit(1)
    )


def values_of(session: Session, instance: Any, kind: Kind, decision: StepRecord) -> dict[str, Any]:
    """What the template is filled with: plain text, dates and amounts, from the case's records."""
    application = records.latest(session, instance.id, "application")
    applied = dict(application.data or {}) if application is not None else {}
    app_form = V.form_of(application) if application is not None else None
    named = parties(session, [instance.id]).get(instance.id)
    officer = decision.actor
    return {
        "title": kind.label("zh"),
        "case_number": instance.business_key or f"#{instance.id}",
        "applicant": named[2] if named and named[2] and named[2] != UNKNOWN_NAME else "申请人",
        "id_number": V.masked_id(applied.get("applicant_id_number")),
        "applied_on": V.local_date(application.completed_at if application else instance.started_at),
        "assistance_form": V.choice(app_form, "assistance_form", applied.get("assistance_form")),
        "aid_types": V.choice(app_form, "aid_types", applied.get("aid_types")),
        "amount_requested": applied.get("amount_requested"),
        "household_size": applied.get("household_size"),
        "org": instance.org_unit.name("zh"),
        "officer": officer.display_name if officer is not None else "—",
        "decided_on": V.local_date(decision.completed_at),
        "reason": (decision.data or {}).get("rejection_reason"),
        "approver_org": _approver_org(session, instance, decision),
        "hardship_category": V.choice(app_form, "hardship_category", applied.get("hardship_category")),
        "application_reason": applied.get("reason"),
        "investigation": V.section(session, instance, "home_investigation"),
        "assessment": V.section(session, instance, "assessment"),
        "review": V.section(session, instance, "democratic_review"),
        "approval": V.section(session, instance, decision.bpmn_id, decision),
    }


def _approver_org(session: Session, instance: Any, decision: StepRecord) -> str:
    """Who decided at approval: the district for the district's approval, else the case's street."""
    if decision.bpmn_id == "district_approval" and instance.district_id is not None:
        district = session.get(OrgUnit, instance.district_id)
        if district is not None:
            return district.name("zh")
    return str(instance.org_unit.name("zh"))


def print_document(
    session: Session, user: User, instance_id: int, name: str
) -> tuple[Attachment, bytes, bool]:
    """The document ``name`` of a case: generated and stored at the first request, the stored PDF at
    every later one. Returns the attachment row, the PDF and whether it was generated now.

    404 unknown kind or case (403 outside scope, as for the case); 404 a kind of another procedure;
    409 with the reason while the case has no record deciding it."""
    instance = instances.get_visible(session, user, instance_id)
    kind = kind_of(name)
    if kind.name == casefile.NAME:
        return _case_file(session, user, instance, kind)
    if kind.process_key != instance.process_key:
        raise NotFound(msg(f"此类案件没有{kind.label()}", f"this procedure has no {kind.label('en')}"))
    decision = _decision(session, instance, kind)
    if decision is None:
        raise Conflict(kind.not_yet)
    stored = _stored(session, decision, kind)
    if stored is not None:
        row, body = attachments.download(session, user, stored.id, channel="print")
        return row, b"".join(body), False
    version, source = template_versions.current(session, kind.name)
    rendered = render.render(
        kind.template,
        (kind.values or values_of)(session, instance, kind, decision),
        case_number=instance.business_key or f"#{instance.id}",
        title=kind.label("zh"),
        source=source,
    )
    return _store(session, user, instance, kind, decision, rendered, version), rendered.pdf, True


def _case_file(session: Session, user: User, instance: Any, kind: Kind) -> tuple[Attachment, bytes, bool]:
    """The case file: once the case has ended, generated at the first print and stored with the case."""
    if not casefile.closed(instance):
        raise Conflict(kind.not_yet)
    stored = stored_case_file(session, instance.id)
    if stored is not None:
        row, body = attachments.download(session, user, stored.id, channel="print")
        return row, b"".join(body), False
    version, source = template_versions.current(session, kind.name)
    rendered = casefile.render_pdf(session, instance, source=source)
    return _store(session, user, instance, kind, None, rendered, version), rendered.pdf, True


def stored_case_file(session: Session, instance_id: int) -> Attachment | None:
    return session.scalar(
        select(Attachment)
        .where(Attachment.instance_id == instance_id, Attachment.field == FIELD_PREFIX + casefile.NAME)
        .order_by(Attachment.id)
        .limit(1)
    )


def _store(
    session: Session,
    user: User,
    instance: Any,
    kind: Kind,
    decision: StepRecord | None,
    rendered: render.Rendered,
    template_version: int | None,
) -> Attachment:
    import hashlib

    store = storage_mod.current()
    file_key = cipher.new_key()
    key = storage_mod.new_key()
    store.write(key, cipher.encrypt(file_key, [rendered.pdf]))
    try:
        case_number = instance.business_key or f"#{instance.id}"
        row = Attachment(
            instance_id=instance.id,
            task_id=decision.task_id if decision is not None else None,
            field=FIELD_PREFIX + kind.name,
            household_id=attachments._household_of(session, instance.id),
            filename=f"{kind.label('zh')}-{case_number}.pdf".replace("/", "-"),
            kind="pdf",
            media_type="application/pdf",
            size=len(rendered.pdf),
            sha256=hashlib.sha256(rendered.pdf).hexdigest(),
            storage_key=key,
            wrapped_key=cipher.wrap(file_key),
            location_removed=False,
            uploaded_by_id=user.id,
            template_version=template_version,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            AuditAction.DOCUMENT_GENERATED,
            actor_id=user.id,
            instance_id=instance.id,
            task_id=decision.task_id if decision is not None else None,
            details={
                "attachment_id": row.id,
                "document": kind.name,
                "step_record_id": decision.id if decision is not None else None,
                "content_sha256": rendered.content_sha256,
                "template_version": template_version,
                "sha256": row.sha256,
                "size": row.size,
            },
        )
        session.flush()
    except BaseException:
        store.delete(key)
        raise
    return row


def stored_pdf(row: Attachment) -> Iterator[bytes]:
    """The stored PDF of a document row, decrypted (no audit: callers audit)."""
    return cipher.decrypt(cipher.unwrap(row.wrapped_key), storage_mod.current().read(row.storage_key))


def field_title(field: str) -> str | None:
    """``document:<kind>`` (an attachment's field) → the kind's title "中文 / English", else None."""
    kind = KINDS.get(field[len(FIELD_PREFIX) :]) if field.startswith(FIELD_PREFIX) else None
    return f"{kind.label('zh')} / {kind.label('en')}" if kind is not None else None


# --- templates (admins edit them; engine.documents.template_versions) ------------------------------------


def template_text(session: Session, name: str) -> tuple[int | None, str]:
    """The text new documents of kind ``name`` are filled from, with its version (None: the file)."""
    kind = kind_of(name)
    version, source = template_versions.current(session, kind.name)
    return version, source if source is not None else render.file_source(kind.template)


def save_template(session: Session, user: User, name: str, source: str) -> Any:
    """A new, audited version of kind ``name``'s template (422 on ``source`` when it cannot fill)."""
    kind = kind_of(name)
    return template_versions.save(
        session, user, kind.name, kind.template, source, samples.sample(kind.name, kind.label("zh"))
    )
