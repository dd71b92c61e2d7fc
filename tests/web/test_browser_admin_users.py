"""The admin's user-accounts page in a real browser (issue 18, second pass): an admin lifts a login
lockout and deactivates, then reactivates, an account; the user's browser session ends at the
deactivation and does not come back with the reactivation."""

from __future__ import annotations

from api.extensions import db
from engine.users import service as users
from tests.conftest import PASSWORD
from tests.web.browser import Staff

NAME = "browser_locked_user"


def _row(staff: Staff):
    return staff.page.locator(f'tr[data-username="{NAME}"]')


def test_an_admin_unlocks_deactivates_and_reactivates_in_the_browser(browser, live_server, client):  # noqa: F811
    users.create_user(db.session(), NAME, PASSWORD, grants=[("advisor", "310107014")])
    db.session.commit()
    for _ in range(5):
        wrong = client.post("/api/v1/auth/token", json={"username": NAME, "password": "wrong-password"})
        assert wrong.status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": NAME, "password": PASSWORD}).status_code == 429

    admin = Staff(browser, live_server, "admin").login()
    admin.goto("/admin/processes")
    admin.page.get_by_role("link", name="用户账号").click()
    row = _row(admin)
    assert "已锁定" in row.inner_text()
    row.locator("form", has=admin.page.get_by_role("button", name="解锁")).get_by_label("原因").fill(
        "来电核实身份"
    )
    row.get_by_role("button", name="解锁").click()
    assert "已解锁" in admin.page.locator(".flash").first.inner_text()
    assert "已锁定" not in _row(admin).inner_text()
    admin.shot("admin-users")

    person = Staff(browser, live_server, NAME).login()  # the lockout is lifted: the user logs in

    _row(admin).get_by_label("原因").fill("调离岗位")
    _row(admin).get_by_role("button", name="停用").click()
    assert "已停用" in admin.page.locator(".flash").first.inner_text()
    assert "已停用" in _row(admin).inner_text()
    person.goto("/")
    assert "/login" in person.page.url  # the session ended with the deactivation

    _row(admin).get_by_label("原因").fill("返回岗位")
    _row(admin).get_by_role("button", name="重新启用").click()
    assert "已重新启用" in admin.page.locator(".flash").first.inner_text()
    person.goto("/")
    assert "/login" in person.page.url  # and stays ended after the reactivation
    person.login()  # a new login works
    for staff in (admin, person):
        staff.close()
