"""The instructor's flask commands: export-grades, regrade and set-stats.

`register(app)` is called by grader/cli.py. A set is named by its public id (as in its URL);
an id that starts with "-" is read as the id, not as an option.
Errors a user can fix print `error: <path>: <message>` on stderr and exit with status 2.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from flask import Flask
from sqlalchemy import select

from grader import db
from grader.models import ProblemSet
from problems.errors import SpecError
from problems.exports.output import check_output, write_output

# Public ids are URL-safe base64 and may start with "-": not an option.
_IDS_MAY_START_WITH_DASH = {"ignore_unknown_options": True}


def _fail(message: str, path: str = "") -> NoReturn:
    click.echo(f"error: {path}: {message}" if path else f"error: {message}", err=True)
    sys.exit(2)


def _set(set_id: str) -> ProblemSet:
    problem_set = db.session().scalar(select(ProblemSet).where(ProblemSet.public_id == set_id))
    if problem_set is None and set_id.isdigit():
        problem_set = db.session().get(ProblemSet, int(set_id))
    if problem_set is None:
        _fail(f"no problem set with the id {set_id!r}", "SET_ID")
    return problem_set


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def register(app: Flask) -> None:
    """Add the instructor commands to `app.cli`."""

    @app.cli.command("export-grades", context_settings=_IDS_MAY_START_WITH_DASH)
    @click.argument("set_id")
    @click.option(
        "--output",
        help="Write the CSV to this file (whole or not at all) instead of to standard output.",
    )
    def export_grades(set_id: str, output: str | None) -> None:
        """Write a problem set's gradebook as CSV (best score per item, attempts, totals)."""
        from grader.services import gradebook

        problem_set = _set(set_id)
        if output:
            try:
                check_output(output, "--output")  # before the work: a folder, a missing one
            except SpecError as err:
                _fail(err.message, err.path)
        text = gradebook.to_csv(gradebook.gradebook(problem_set))
        if not output:
            click.echo(text, nl=False)
            return
        try:
            write_output(output, text.encode("utf-8"), "--output")
        except SpecError as err:
            _fail(err.message, err.path)
        click.echo(f"wrote {output}", err=True)

    @app.cli.command("regrade", context_settings=_IDS_MAY_START_WITH_DASH)
    @click.argument("set_id")
    @click.option(
        "--apply",
        "do_apply",
        is_flag=True,
        help="Record the new grades (default: a dry run that changes nothing).",
    )
    def regrade_command(set_id: str, do_apply: bool) -> None:
        """Regrade a set's submissions with the current code and settings: list what changes
        (dry run), or with --apply add a "regrade" grade to each changed submission."""
        from tqdm import tqdm

        from grader.services import regrade

        problem_set = _set(set_id)

        def bar(values: Any) -> Any:
            return tqdm(values, desc="regrade", unit="submission", file=sys.stderr, disable=None)

        if do_apply:
            report = regrade.apply(problem_set, None, progress=bar)
        else:
            report = regrade.dry_run(problem_set, progress=bar)
        for c in report.changed:
            click.echo(
                f"{c.student_email}\t{c.item_label}\tattempt {c.attempt}\t"
                f"{c.old_score:g} -> {c.new_score:g}"
            )
        for c in report.errors:
            click.echo(
                f"{c.student_email}\t{c.item_label}\tattempt {c.attempt}\terror: {c.error}",
                err=True,
            )
        verb = "regraded" if do_apply else "would change"
        click.echo(
            f"{report.checked} submissions checked, {len(report.changed)} {verb}, "
            f"{len(report.errors)} could not be regraded"
            + ("" if do_apply or not report.changed else " (dry run: add --apply to record)")
        )

    @app.cli.command("set-stats", context_settings=_IDS_MAY_START_WITH_DASH)
    @click.argument("set_id")
    def set_stats(set_id: str) -> None:
        """Print a set's item statistics: facility, discrimination, misconceptions, variants."""
        from grader.services import stats

        result = stats.set_stats(_set(set_id))
        mean_total = result.mean_best_percentage
        mean_text = _pct(None if mean_total is None else mean_total / 100)
        click.echo(
            f"{result.problem_set_title}: {result.participants} of {result.students} "
            f"students submitted; mean total {mean_text}"
        )
        click.echo(
            f"{'item':<6}{'kind':<18}{'n':>4}{'mean':>8}{'facility':>10}{'best':>7}"
            f"{'disc':>7}{'flagged':>9}"
        )
        for it in result.items:
            shown = it.discrimination_shown
            disc = "-" if shown is None else f"{shown:.2f}"
            mean_score = "-" if it.mean_score is None else f"{it.mean_score:.2f}"
            click.echo(
                f"{it.column.label:<6}{it.column.kind[:17]:<18}{it.n:>4}{mean_score:>8}"
                f"{_pct(it.facility):>10}{_pct(it.facility_best):>7}{disc:>7}"
                f"{len(it.flagged_variants):>9}"
            )
            for m in it.misconceptions:
                click.echo(
                    f"      misconception: {m.name} ({m.students} students, "
                    f"{m.submissions} submissions)"
                )
