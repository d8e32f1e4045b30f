"""LTI flask commands: register a platform (or make a link for the LMS to register the tool
itself), print the tool's URLs, run the grade passback worker, import an LMS course's
roster, rotate our signing key. Errors print `error: <path>: <message>` and exit 2."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any, NoReturn

import click
from flask import Flask

from problems.errors import SpecError


def _fail(message: str, path: str = "") -> NoReturn:
    click.echo(f"error: {path}: {message}" if path else f"error: {message}", err=True)
    sys.exit(2)


def _print_urls() -> None:
    from grader.lti import registry

    urls = registry.tool_urls()
    click.echo(f"login initiation URL:  {urls.login}")
    click.echo(f"redirect / launch URL: {urls.launch}")
    click.echo(f"deep linking URL:      {urls.deep_linking}")
    click.echo(f"JWKS (public keys):    {urls.jwks}")
    click.echo(f"Canvas JSON config:    {urls.canvas_config}")


def _owner_and_course(owner_email: str, course_ref: str) -> tuple[Any, Any]:
    """The instructor of `--owner` and the course of `--course` (either may be empty: None);
    exit 2 naming the option for an unknown one, or a course the owner does not teach."""
    from grader.services import courses

    owner = None
    if owner_email:
        owner = courses.user_by_email(owner_email)
        if owner is None or not owner.is_instructor:
            _fail(f"no instructor with the email {owner_email!r}", "owner")
    course = None
    if course_ref:
        try:
            course = courses.find_course(course_ref)
        except SpecError as err:
            _fail(err.message, err.path)
        if course is None:
            _fail(f"no course with the code or id {course_ref!r}", "course")
        if owner is not None and courses.role_in(owner, course) != "instructor":
            _fail(f"{owner_email} does not teach {course.code}", "course")
    return owner, course


def register(app: Flask) -> None:
    """Add the LTI commands to `app`."""

    @app.cli.command("lti-register-platform")
    @click.option("--issuer", required=True, help="The platform's issuer (iss of its tokens).")
    @click.option("--client-id", required=True, help="Our client id on that platform.")
    @click.option("--auth-url", required=True, help="The platform's OIDC authorization URL.")
    @click.option("--token-url", required=True, help="The platform's OAuth2 token URL.")
    @click.option("--jwks-url", required=True, help="The platform's public key set URL.")
    @click.option("--deployment", "deployments", multiple=True, required=True,
                  help="A deployment id (repeat for several).")
    @click.option("--name", default="", help="A name to show (default: the issuer).")
    @click.option("--token-audience", default="",
                  help="The aud of our token assertions, if not the token URL.")
    @click.option("--owner", "owner_email", default="",
                  help="Email of the instructor who manages it on /teach/lti/.")
    @click.option("--course", "course_ref", default="",
                  help="Put every LMS course of this platform into this course (code or id); "
                       "default: a new course per LMS course.")
    def register_platform(issuer: str, client_id: str, auth_url: str, token_url: str,
                          jwks_url: str, deployments: tuple[str, ...], name: str,
                          token_audience: str, owner_email: str, course_ref: str) -> None:
        """Register an LMS (or add deployment ids to one already registered)."""
        from grader.lti import registry

        owner, course = _owner_and_course(owner_email, course_ref)
        existing = registry.find(issuer.strip(), client_id.strip())
        try:
            if existing:
                ids = registry.parse_deployments(list(deployments), "deployment")
                platform = registry.add_deployments(existing[0], ids)
                verb = "updated"
            else:
                platform = registry.register({
                    "name": name, "issuer": issuer, "client_id": client_id,
                    "auth_login_url": auth_url, "token_url": token_url,
                    "key_set_url": jwks_url, "token_audience": token_audience,
                    "deployment_ids": list(deployments),
                }, owner=owner, course=course)
                verb = "registered"
        except SpecError as err:
            _fail(err.message, err.path)
        click.echo(f"{verb} platform {platform.public_id} ({platform.issuer}, client "
                   f"{platform.client_id}, deployments {', '.join(platform.deployment_ids)})")
        _print_urls()

    @app.cli.command("lti-registration-link")
    @click.option("--owner", "owner_email", required=True,
                  help="Email of the instructor the registered platform belongs to.")
    @click.option("--course", "course_ref", default="",
                  help="Put every LMS course of the platform into this course (code or id); "
                       "default: a new course per LMS course.")
    def registration_link(owner_email: str, course_ref: str) -> None:
        """Print a single-use LTI Dynamic Registration link (paste it into Moodle or
        Canvas: the LMS registers the tool itself)."""
        from grader.lti import dynamic

        owner, course = _owner_and_course(owner_email, course_ref)
        assert owner is not None  # --owner is required
        url, link = dynamic.make_link(owner, course)
        click.echo(url)
        click.echo(f"single use, valid until {link.expires_at:%Y-%m-%d %H:%M} UTC", err=True)

    @app.cli.command("lti-platforms")
    def list_platforms() -> None:
        """Print the registered platforms as JSON lines."""
        from sqlalchemy import select

        from grader import db
        from grader.lti import registry
        from grader.lti.models import LtiPlatform

        for platform in db.session().scalars(select(LtiPlatform).order_by(LtiPlatform.id)):
            click.echo(json.dumps(registry.describe(platform)))

    @app.cli.command("lti-tool-urls")
    def tool_urls() -> None:
        """Print the URLs to paste into an LMS (from BASE_URL)."""
        _print_urls()

    @app.cli.command("lti-rotate-key")
    def rotate_key() -> None:
        """Make a new signing key; the old public keys stay in our JWKS."""
        from grader import db
        from grader.lti import keys

        with db.transaction() as s:
            key = keys.rotate(s)
            kids = [k.kid for k in keys.published(s)]
        click.echo(f"new signing key {key.kid}; published: {', '.join(kids)}")
        click.echo("drop a retired key (once platforms have refetched our JWKS) with: "
                   "flask lti-drop-key -- KID")

    @app.cli.command("lti-drop-key")
    @click.argument("kid")
    def drop_key(kid: str) -> None:
        """Stop publishing a retired key (after platforms have refetched our JWKS). A kid
        may start with "-" (1 in 64 do): write `flask lti-drop-key -- KID`."""
        from grader import db
        from grader.lti import keys

        with db.transaction() as s:
            dropped = keys.drop(s, kid)
        if not dropped:
            _fail(f"no retired key {kid!r} (the signing key cannot be dropped)", "kid")
        click.echo(f"dropped key {kid}")

    @app.cli.command("lti-import-roster")
    @click.argument("course_ref", metavar="COURSE")
    def import_roster(course_ref: str) -> None:
        """Enroll the active students of the LMS course(s) linked to COURSE (code or id)
        from the LMS roster (Names and Role Provisioning); nobody is unenrolled."""
        from grader.lti import roster

        _, course = _owner_and_course("", course_ref)
        if course is None:
            _fail("a course code or id is required", "course")
        contexts = [c for c in roster.roster_contexts(course.id) if c.memberships_url]
        if not contexts:
            _fail(f"{course.code} has no LMS course with a roster service (Names and Role "
                  "Provisioning): launch the tool once from the LMS course", "course")
        failed = False
        for context in contexts:
            name = context.title or context.context_id
            try:
                report = roster.import_roster(context)
            except roster.RosterError as err:
                click.echo(f"error: {name}: {err.message}", err=True)
                failed = True
                continue
            click.echo(f"{name}: {report.summary()}")
        if failed:
            sys.exit(2)

    @app.cli.command("lti-outbox")
    @click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
    @click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1),
                  help="Seconds between passes.")
    @click.option("--limit", default=200, show_default=True, type=click.IntRange(1),
                  help="Scores claimed per pass.")
    def outbox(once: bool, interval: float, limit: int) -> None:
        """Send queued grades to the LMS platforms (retries with backoff)."""
        from grader.services import passback

        stopping = threading.Event()  # set by SIGTERM: ends the wait between passes at once

        def _stop(_signum: int, _frame: Any) -> None:
            stopping.set()

        if not once:
            signal.signal(signal.SIGTERM, _stop)
        while True:
            report = passback.deliver_due(limit=limit)
            if once:
                total = report
                # A full pass: more may be due (rows it handled are no longer due).
                while report.claimed and report.claimed + report.skipped >= limit:
                    report = passback.deliver_due(limit=limit)
                    total.sent += report.sent
                    total.retrying += report.retrying
                    total.failed += report.failed
                    total.skipped += report.skipped
                    total.errors += report.errors
                click.echo(total.summary())
                for message in total.errors:
                    click.echo(f"  {message}", err=True)
                return
            if report.claimed:
                click.echo(report.summary())
            for message in report.errors:
                click.echo(f"  {message}", err=True)
            try:
                if stopping.wait(interval):
                    return
            except KeyboardInterrupt:
                return
