"""`flask create-api-key COURSE NAME` and `flask revoke-api-key KEY_ID` (administrators).

Errors a user can fix print `error: <path>: <message>` on stderr and exit with status 2.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask import Flask

from problems.errors import SpecError


def _fail(message: str, path: str = "") -> NoReturn:
    click.echo(f"error: {path}: {message}" if path else f"error: {message}", err=True)
    sys.exit(2)


def register(app: Flask) -> None:
    """Add the API key commands to `app.cli`."""

    @app.cli.command("create-api-key")
    @click.argument("course_ref", metavar="COURSE")
    @click.argument("name")
    def create_api_key(course_ref: str, name: str) -> None:
        """Create an API key for COURSE (code or id) and print it: it is shown only once."""
        from grader.services import api_keys, courses

        try:
            course = courses.find_course(course_ref)
        except SpecError as err:
            _fail(err.message, err.path)
        if course is None:
            _fail(f"no course with the code or id {course_ref!r}", "course")
        try:
            new = api_keys.create_key(course, name)
        except SpecError as err:
            _fail(err.message, err.path)
        click.echo(f"created key {new.key.public_id} ({new.key.name}) for {course.code}; "
                   "copy it now, it is not shown again:", err=True)
        click.echo(new.token)

    @app.cli.command("revoke-api-key", context_settings={"ignore_unknown_options": True})
    @click.argument("key_ref", metavar="KEY_ID")
    def revoke_api_key(key_ref: str) -> None:
        """Revoke an API key, named by its id (the part after cnnq_) or the whole key."""
        from grader.services import api_keys

        key = api_keys.find_key(key_ref)
        if key is None:
            _fail(f"no API key with the id {key_ref[:40]!r}", "KEY_ID")
        if api_keys.revoke(key):
            click.echo(f"revoked key {key.public_id} ({key.name})")
        else:
            click.echo(f"key {key.public_id} ({key.name}) was already revoked")
