"""LTI Dynamic Registration in a real Chromium: an instructor makes a registration link on the
tool's LMS page, an LMS administrator pastes it into the test platform (on 127.0.0.1: another
site), which opens it in a frame; the tool registers itself there, shows what it stored, and
its "Return to the LMS" button tells the platform's page that it is done."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - see conftest: only CI insists
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("playwright is not installed in this environment", allow_module_level=True)

from lti_platform import Harness, Platform

PASSWORD = "registration browser password"


@pytest.fixture
def tool(_browser_available: None, serve: Any, tmp_path: Any) -> Iterator[tuple[Any, str]]:
    with serve(tmp_path / "lti-register.sqlite3", SECRET_KEY="browser-register-secret") as (
            app, port):
        yield app, f"http://localhost:{port}"


def test_the_lms_registers_the_tool_from_the_instructor_s_link(tool, context, page,
                                                                 screenshot):
    app, url = tool
    from grader.services import courses

    with app.app_context():
        courses.create_user("teach@example.edu", "Teach", PASSWORD, is_instructor=True)
    with Platform(redirect_uri=f"{url}/lti/launch") as platform:
        Harness(app, platform)  # the test settings (timeouts) and our key set
        app.config.update(BASE_URL=url)

        # The instructor makes a link on the tool's LMS page.
        page.goto(f"{url}/login")
        page.fill("input[name=email]", "teach@example.edu")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{url}/teach/lti/")
        page.click("text=Make a registration link")
        link = page.locator("#registration-url").input_value()
        assert link.startswith(f"{url}/lti/register/")
        screenshot(page, "lti-registration-link")

        # The LMS administrator pastes it into the LMS, which opens it in a frame.
        admin = context.new_page()
        admin.goto(f"{platform.base}/admin/register_tool?" + urlencode({"url": link}))
        frame = admin.frame_locator("#tool")
        expect(frame.locator("h1")).to_contain_text("CNN Quiz is registered with",
                                                    timeout=15_000)
        expect(frame.locator("#lti-registered")).to_contain_text(platform.client_id)
        expect(frame.locator("#lti-registered")).to_contain_text(platform.deployment_id)
        screenshot(admin, "lti-registration-done")
        frame.locator("#lti-registered-close").click()
        expect(admin.locator("#status")).to_have_text("closed")
        assert admin.evaluate("window.ltiClosed") == [url]
        assert len(platform.registrations) == 1 and not platform.errors

        # The instructor's page now lists the platform; the link is spent.
        page.goto(f"{url}/teach/lti/")
        expect(page.locator("#platforms-heading + .table-wrap")).to_contain_text(
            platform.client_id)
        expect(page.locator("text=Links not used yet")).to_have_count(0)
        screenshot(page, "lti-index-after-registration")
