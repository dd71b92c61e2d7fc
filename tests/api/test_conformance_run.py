"""The MIWG reference models through the API, after the two edits an admin makes in the modeler to run a
model drawn elsewhere: mark its process executable and give each user (or manual) task a role. A model
with executable semantics then lints clean, deploys, starts and runs to its end (the test completes every
task it opens); every other model is refused at lint with each blocking reason named (element and
message), never a 500. The files are ``tests/fixtures/conformance/miwg-reference`` (README there)."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.bpmn.parsing import BPMN_NS, SPIFF_NS, choose_process, parse_xml
from tests.factories import STREET
from tests.helpers import CONFORMANCE

MIWG = sorted((CONFORMANCE / "miwg-reference").glob("*.bpmn"))
# The models that have executable semantics here (the others: a choice with no condition, a data store,
# an event the engine does not run, an implicit split on a task, ...; each named by lint).
RUNS_TO_THE_END = {"A.1.0.bpmn"}
MAX_STEPS = 30


def made_executable(raw: bytes) -> bytes:
    """The file as an admin leaves the modeler: its main process executable, each human task an admin's."""
    root = parse_xml(raw).getroot()
    key, _draft = choose_process(root)
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") == key:
            process.set("isExecutable", "true")
    for task in root.iter(f"{{{BPMN_NS}}}userTask", f"{{{BPMN_NS}}}manualTask"):
        extensions = task.find(f"{{{BPMN_NS}}}extensionElements")
        if extensions is None:
            extensions = etree.Element(f"{{{BPMN_NS}}}extensionElements")
            task.insert(0, extensions)
        properties = etree.SubElement(extensions, f"{{{SPIFF_NS}}}properties")
        etree.SubElement(properties, f"{{{SPIFF_NS}}}property", name="role", value="admin")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _lint(client, admin, xml):
    response = client.post(
        "/api/v1/process-definitions/lint", data=xml, headers={**admin, "Content-Type": "application/xml"}
    )
    assert response.status_code == 200, response.json
    return response.json


def _run_to_the_end(client, admin, key):
    started = client.post(
        "/api/v1/process-instances", json={"process_key": key, "org_unit": STREET}, headers=admin
    )
    assert started.status_code == 201, started.json
    url = f"/api/v1/process-instances/{started.json['id']}"
    for _ in range(MAX_STEPS):
        detail = client.get(url, headers=admin).json
        if detail["status"] != "running":
            return detail
        assert detail["open_tasks"], ("a running case with nothing to do", detail)
        task = detail["open_tasks"][0]
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}, headers=admin)
        assert done.status_code == 200, (task["bpmn_id"], done.json)
    raise AssertionError(f"{key}: still running after {MAX_STEPS} steps")


@pytest.mark.parametrize("path", MIWG, ids=lambda p: p.name)
def test_reference_model_runs_or_is_refused_with_its_reasons(client, login, path):
    admin = login("admin")
    xml = made_executable(path.read_bytes())
    answer = _lint(client, admin, xml)
    if not answer["ok"]:
        assert path.name not in RUNS_TO_THE_END, answer["errors"]
        assert answer["errors"]
        for problem in answer["errors"]:
            zh, _sep, en = problem["message"].partition(" / ")
            assert zh and en and "None" not in problem["message"], problem
            assert problem["element"] or problem["line"] is None, problem
        refused = client.post(
            "/api/v1/process-definitions", data=xml, headers={**admin, "Content-Type": "application/xml"}
        )
        assert refused.status_code == 422 and refused.json["error"] == "bpmn_invalid", refused.json
        return
    deployed = client.post(
        "/api/v1/process-definitions", data=xml, headers={**admin, "Content-Type": "application/xml"}
    )
    assert deployed.status_code in (200, 201), deployed.json
    detail = _run_to_the_end(client, admin, deployed.json["definition"]["key"])
    assert detail["status"] == "completed", detail


def test_the_models_with_executable_semantics_are_among_those_that_run(client, login):
    admin = login("admin")
    runs = {p.name for p in MIWG if _lint(client, admin, made_executable(p.read_bytes()))["ok"]}
    assert runs >= RUNS_TO_THE_END
