"""Driving a procedure through the REST API as each role would, shared by the procedure tests."""

from __future__ import annotations

from tests.conftest import PASSWORD


class ApiCase:
    """One case of ``key`` started at ``org_unit``; each step is done by whoever holds its role."""

    def __init__(self, client, login, key: str, org_unit: str, *, starter: str = "pt_advisor", viewer: str):
        self.client, self.login, self.viewer = client, login, viewer
        response = client.post(
            "/api/v1/process-instances",
            json={"process_key": key, "org_unit": org_unit},
            headers=login(starter),
        )
        assert response.status_code == 201, response.json
        self.id = response.json["id"]

    def detail(self):
        return self.client.get(f"/api/v1/process-instances/{self.id}", headers=self.login(self.viewer)).json

    def open(self) -> list[str]:
        return sorted(t["bpmn_id"] for t in self.detail()["open_tasks"])

    def task(self, bpmn_id, role=None):
        """The open task of ``bpmn_id`` (of a multi-instance step: the instance for ``role``)."""
        return next(
            t
            for t in self.detail()["open_tasks"]
            if t["bpmn_id"] == bpmn_id and role in (None, t["candidate_role"])
        )

    def supply(self, task_id, username):
        """Upload a sample file for each material the step requires and has not got yet."""
        supply_materials(self.client, self.login(username), task_id)

    def submit(self, bpmn_id, username, data, *, materials=True, role=None):
        task_id = self.task(bpmn_id, role)["id"]
        if materials:
            self.supply(task_id, username)
        return self.client.post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": data},
            headers=self.login(username),
        )

    def do(self, bpmn_id, username, data, *, role=None):
        response = self.submit(bpmn_id, username, data, role=role)
        assert response.status_code == 200, (bpmn_id, response.json)
        return response.json


def supply_materials(client, headers, task_id) -> list[dict]:
    """Through the API: a sample PDF or photo for every required material of the task not yet uploaded."""
    from api.demo_materials import sample_pdf, sample_photo

    checklist = client.get(f"/api/v1/tasks/{task_id}/materials", headers=headers)
    if checklist.status_code != 200:
        return []  # not the user's task to see: the completion itself will say why
    uploaded = []
    for item in checklist.json["items"]:
        if not item["required"] or item["done"]:
            continue
        data, name = (
            (sample_pdf(item["field"]), "m.pdf") if "pdf" in item["kinds"] else (sample_photo(), "m.jpg")
        )
        boundary = "----assistflow-materials"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = client.post(
            f"/api/v1/tasks/{task_id}/attachments?field={item['field']}",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=headers,
        )
        if response.status_code == 201:
            uploaded.append(response.json)
    return uploaded


def fresh_token(client, username: str) -> dict[str, str]:
    """Log in now (under time travel, a cached token from another moment would have expired)."""
    body = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD}).json
    return {"Authorization": f"Bearer {body['token']}"}
