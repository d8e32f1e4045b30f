"""A NUL character (`%00`) in what a page is sent: every page whose URL has parts (ids,
codes, tokens) answers a part holding one with a 404, signed in as an instructor or a
student, and a form or query field holding one is a 400 naming the field. No id or text
holds one, and PostgreSQL's text cannot even hold one to compare (these were 500s there).
Both engines. The JSON API refuses them itself, naming the place (test_api_fuzz.py)."""

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


def test_a_nul_in_a_form_or_query_field_is_a_400_naming_it(app, client, course, instructor):
    """These were 500s on PostgreSQL (an API key's name, the preview's item and student)."""
    from sqlalchemy import func, select

    from grader import db
    from grader.api.models import ApiKey
    from grader.services import problem_sets

    assert login(client, instructor.email).status_code == 302
    token = csrf_token(client, "/account/password")
    response = client.post(f"/teach/courses/{course.public_id}/api-keys",
                           data={"csrf_token": token, "name": "LMS\x00key"})
    assert response.status_code == 400
    assert "The field &#39;name&#39; holds a NUL character" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(ApiKey)) == 0
        published = problem_sets.publish(problem_sets.create_set(
            course, "W", [{"kind": "output_shape", "difficulty": 1, "points": 1}]))
    for field in ("item", "student"):
        response = client.get(f"/teach/sets/{published.public_id}/preview",
                              query_string={field: "x\x00"})
        assert response.status_code == 400, field
        assert f"The field &#39;{field}&#39;" in response.get_data(as_text=True)
