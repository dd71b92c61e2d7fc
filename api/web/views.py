"""The staff pages. Each view calls the same engine services as the REST API and only lays out results.

The pages live by family: ``common`` (the shared base: user, session, login check, error pages),
``login_pages``, ``inbox``, ``task_pages`` (a task and starting a procedure), ``case_page``,
``dashboard`` and ``notification_pages``, beside ``admin_*``, ``cases``, ``records_views`` and
``incidents``. This module keeps the names other modules import from it.
"""

from __future__ import annotations

from api.web.case_page import (
    EVENT_NAMES,
    TIMELINE_PER_PAGE,
    case_outcome,
    case_parent,
    procedure_label,
    procedure_name,
)
from api.web.common import (
    ERROR_MESSAGES,
    _db,
    _editable_fields,
    _error_page,
    _field_errors,
    _formatter,
    _forms_of,
    _int_arg,
    _safe_next,
    _summary,
    html_error,
    login_required,
    user,
)
from api.web.dashboard import COLUMNS, MONEY_COLUMNS, NOT_STARTED_COLUMNS, spreadsheet_safe
from api.web.inbox import PER_PAGE, TABS
from api.web.login_pages import VENDOR

__all__ = [
    "COLUMNS",
    "ERROR_MESSAGES",
    "EVENT_NAMES",
    "MONEY_COLUMNS",
    "NOT_STARTED_COLUMNS",
    "PER_PAGE",
    "TABS",
    "TIMELINE_PER_PAGE",
    "VENDOR",
    "_db",
    "_editable_fields",
    "_error_page",
    "_field_errors",
    "_formatter",
    "_forms_of",
    "_int_arg",
    "_safe_next",
    "_summary",
    "case_outcome",
    "case_parent",
    "html_error",
    "login_required",
    "procedure_label",
    "procedure_name",
    "spreadsheet_safe",
    "user",
]
