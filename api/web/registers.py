"""The registers a form field may be picked from (a form field's ``suggest``), read for one case: the
entries the web form lists as the field's options. The step itself still checks the value picked."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.forms import FormDefinition
from engine.serviceorgs import service as serviceorgs


def entries(
    session: Session, form: FormDefinition | None, district_id: int | None
) -> dict[str, list[dict[str, str]]]:
    """Each register the form's fields use, as ``{"value", "label"}`` options for a case of the district."""
    out: dict[str, list[dict[str, str]]] = {}
    for source in {f.suggest for f in form.fields if f.suggest} if form is not None else ():
        if source == "service_organisations":
            out[source] = [
                {"value": o.code, "label": o.name} for o in serviceorgs.matchable(session, district_id)
            ]
    return out
