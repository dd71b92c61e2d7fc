"""A step's name in a reader's language, for pages and notices.

Steps are named in the procedure's BPMN, in Chinese (the notices' own terms). In English a step takes
the English half of a name written "中文 English", else its ``nameEn`` property, else the English title
of the form it is filled in, else its name as written; in Chinese the Chinese half of a bilingual name.
(Steps sharing one form, 街镇审批 and 区级审批 say, carry ``nameEn``.) One instance of a multi-instance
step is named with its member, 评议小组成员表决（张三）: the member stays, "Review (张三)".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine.users.models import ROLE_NAMES_EN, ROLE_NAMES_ZH

_ROLES_BY_NAME = {zh: role for role, zh in ROLE_NAMES_ZH.items()}


def _member(label: str) -> str:
    """A multi-instance step's member in English: a party named by its role (受援机构) by the role's
    English name; a person as named."""
    role = _ROLES_BY_NAME.get(label)
    return ROLE_NAMES_EN.get(role, label) if role is not None else label


# "街镇救助专员 street_officer", "市民综合帮扶 Citizen comprehensive assistance": Chinese, then English
_BILINGUAL = re.compile(r"^(.*[^\x00-\x7f][^ -~]*)\s+([ -~]+)$")


def bilingual(text: str) -> tuple[str, str] | None:
    """A name written "中文 English" as its two halves; None when it is in one language."""
    split = _BILINGUAL.match(text or "")
    return (split.group(1).strip(), split.group(2).strip()) if split else None


class StepNames:
    """Steps' names in one language (the module's rule), for one page or one batch of notices: each
    form's title and each procedure's English names are read once.

    ``form_title(key)`` gives a form's title by language; ``english_of(process_key, bpmn_id)`` the step's
    name in the procedure, its ``nameEn`` and its form (used when the caller knows no form)."""

    def __init__(
        self,
        form_title: Callable[[str], Mapping[str, str] | None],
        locale: str,
        english_of: Callable[[str, str], tuple[str, str | None, str | None] | None] | None = None,
    ) -> None:
        self._form_title, self._english_of, self._en = form_title, english_of, locale == "en"
        self._titles: dict[str, str | None] = {}

    def __call__(
        self,
        name: str | None,
        form_key: str | None = None,
        process_key: str | None = None,
        bpmn_id: str | None = None,
    ) -> str:
        halves = bilingual(name or "")
        if halves is not None:
            return halves[1] if self._en else halves[0]
        if not self._en:
            return name or ""
        member = ""
        if process_key and bpmn_id and self._english_of is not None:
            found = self._english_of(process_key, bpmn_id)
            if found is not None:
                base, english, form = found
                form_key = form_key or form
                if name and name.startswith(f"{base}（") and name.endswith("）"):
                    member = f" ({_member(name[len(base) + 1 : -1])})"
                if english:
                    return english + member
        if form_key:
            if form_key not in self._titles:
                self._titles[form_key] = (self._form_title(form_key) or {}).get("en") or None
            title = self._titles[form_key]
            if title:
                return title + member
        return name or ""

    def task(self, row: Any) -> str:
        """A task row's step (its name, form, procedure and element)."""
        return self(row.name, row.form_key, row.process_key, row.bpmn_id)


def step_names(session: Session, locale: str) -> StepNames:
    """Steps' names in ``locale``: forms' titles as new tasks get them, the procedures' latest versions'
    ``nameEn`` properties."""
    from engine.definitions import service as definitions
    from engine.formversions import service as formversions

    def title(key: str) -> Mapping[str, str] | None:
        form, _version = formversions.current(session, key)
        return form.title if form is not None else None

    english: dict[str, dict[str, tuple[str, str | None, str | None]]] = {}

    def english_of(process_key: str, bpmn_id: str) -> tuple[str, str | None, str | None] | None:
        if process_key not in english:  # the latest version's names, ``nameEn`` properties and forms
            newest = definitions.latest(session, process_key)
            metas = definitions.compiled(session, newest.id).tasks if newest is not None else {}
            english[process_key] = {
                i: (m.name, m.properties.get("nameEn"), m.form_key) for i, m in metas.items()
            }
        return english[process_key].get(bpmn_id)

    return StepNames(title, locale, english_of)
