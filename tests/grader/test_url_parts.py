"""Every page whose URL has parts (ids, codes, tokens) answers a part holding a NUL (`%00`)
with a 404, signed in as an instructor or a student: no id holds one, and PostgreSQL's text
cannot even hold one to compare (these were 500s there). Both engines. The JSON API answers
its own 404 naming the part (tests/grader/test_api_fuzz.py)."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, login


def _page_rules(app) -> list[tuple[str, str]]:
    """(method, URL with every part NUL) of each page route that has parts."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint == "static" or rule.endpoint.startswith("api."):
            continue
        url = re.sub(r"<(?:[^<>:]+:)?[^<>]+>", "%00", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


@pytest.mark.parametrize("who", ["instructor", "student"])
def test_a_nul_in_any_url_part_is_a_404(app, client, course, instructor, student, who):
    user = instructor if who == "instructor" else student
    assert login(client, user.email).status_code == 302
    token = csrf_token(client, "/account/password")
    rules = _page_rules(app)
    assert len(rules) > 20  # the pages of students, instructors and LTI
    for method, url in rules:
        response = client.open(url, method=method, data={"csrf_token": token} if method != "GET"
                               else None)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/account/password").status_code == 200  # still signed in
