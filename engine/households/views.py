"""Households and people as pages and answers show them: ID and phone numbers and the bank account
masked, categories and relations in words (Chinese, or English)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.households.checks import mask_account
from engine.households.models import Hardship, Household, Person, Relation
from engine.orgs.models import OrgUnit
from engine.privacy import mask_id_number, mask_phone

HARDSHIP_LABELS = {
    Hardship.DIBAO: ("低保", "Minimum living guarantee"),
    Hardship.DIBAO_EDGE: ("低保边缘", "Marginal (near dibao)"),
    Hardship.LOW_INCOME: ("低收入", "Low income"),
    Hardship.EXPENDITURE: ("支出型", "Rigid expenditure"),
    Hardship.OTHER: ("其他", "Other"),
}
RELATION_LABELS = {
    Relation.HEAD: ("户主", "Head of household"),
    Relation.SPOUSE: ("配偶", "Spouse"),
    Relation.CHILD: ("子女", "Child"),
    Relation.PARENT: ("父母", "Parent"),
    Relation.GRANDCHILD: ("孙子女", "Grandchild"),
    Relation.GRANDPARENT: ("祖父母", "Grandparent"),
    Relation.SIBLING: ("兄弟姐妹", "Sibling"),
    Relation.OTHER: ("其他", "Other"),
}


def person_view(person: Person, locale: str = "zh") -> dict[str, Any]:
    """A person as every list shows them: ID and phone masked, relation in words."""
    return {
        "id": person.id,
        "household_id": person.household_id,
        "name": person.name,
        "relation": person.relation.value,
        "relation_label": RELATION_LABELS[person.relation][locale == "en"],
        "id_number": mask_id_number(person.id_number) if person.id_number else None,
        "phone": mask_phone(person.phone) if person.phone else None,
        "birth_date": person.birth_date,
    }


def household_view(session: Session, household: Household, locale: str = "zh") -> dict[str, Any]:
    en = locale == "en"
    units = {
        u.id: u for u in session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_({household.org_unit_id, household.registered_street_id or 0}))
        )
    }  # fmt: skip
    residence = units[household.org_unit_id]
    registered = units.get(household.registered_street_id or 0)
    head = next((m for m in household.members if m.relation == Relation.HEAD), None)
    return {
        "id": household.id,
        "head_name": head.name if head else (household.members[0].name if household.members else None),
        "residence_address": household.residence_address,
        "residence_street": residence.code,
        "residence_street_name": residence.name(locale),
        "registered_address": household.registered_address,
        "registered_street": registered.code if registered else None,
        "registered_street_name": registered.name(locale) if registered else None,
        "separated": bool(registered and registered.id != residence.id),  # 人户分离
        "hardship_category": household.hardship_category.value,
        "hardship_label": HARDSHIP_LABELS[household.hardship_category][en],
        "bank_name": household.bank_name,
        "bank_account_holder": household.bank_account_holder,
        "bank_account": mask_account(household.bank_account),
        "members": [person_view(m, locale) for m in household.members],
        "created_at": household.created_at,
    }
