"""Helpers of the operations tests (issue 20): a case with an open incident."""

from __future__ import annotations

import pytest

from engine.definitions import service as definitions
from engine.incidents import service as incidents
from engine.tasks import service as tasks
from tests import hostile_bpmn
from tests.conftest import get_user
from tests.factories import STREET, open_task

from engine.instances import service as instances  # isort: skip


def failing_case(session, script: str = "y = missing_value + 1", key: str = "hostile_script"):
    """A case whose script step after 'fill' fails: an open incident on 'calc'."""
    definitions.deploy(
        session, hostile_bpmn.script_after_fill(script, key), actor_id=get_user(session, "admin").id
    )
    officer = get_user(session, "pt_officer")
    instance = instances.start(session, officer, key, STREET)
    session.commit()
    with pytest.raises(incidents.IncidentOpened) as caught:
        tasks.complete(session, officer, open_task(session, instance.id, "fill").id, {})
    session.commit()
    return instance, caught.value.incident
