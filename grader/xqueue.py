"""An Open edX XQueue pull ("active") grader: log in, poll a queue, grade each submission
with `problems.kinds.grade` and put the result back.

    python -m grader.xqueue --url https://xqueue.example.org --queue cnn-quiz \\
        --user grader --password ... [--secret ...] [--once] [--poll-seconds 2]

A submission's `grader_payload` (set by the course author in the capa problem) is JSON
`{"kind", "difficulty", "seed"?, "points"?}`. `points` is what the reply's score is out of: it
must equal the `points` attribute of the problem's <textbox> (capa's maximum for a
CodeResponse, a whole number, 1 when absent), so it too defaults to 1. Without a seed, the
variant is derived from the learner's anonymous id, the kind and the difficulty with
HMAC-SHA256 keyed by `--secret` (or XQUEUE_VARIANT_SECRET), so each learner always gets the
same variant. The learner's `student_response` is a JSON object of part id to answer text
(a string may hold raw line breaks: a grid one row per line), or plain text for a one-part
problem. The reply is `{"correct", "score", "msg"}` (openedx-platform's CodeResponse):
`correct` is full marks, `score` the points earned, `msg` per-part feedback as HTML in which
everything the learner typed is escaped (a multi-line answer, a grid, is echoed row by row in
<pre>; a long one is cut, saying so). A submission that cannot be read or graded gets score 0
and a message saying why: XQueue has no "not graded" reply. When the learner's answer is at
fault (plain text or nothing for a problem of several parts, broken JSON) the message says how
to fix it; when the problem's setup is (its grader_payload, the grader's configuration, what
the platform sent) it asks the learner to tell the instructor.

An empty --password or XQUEUE_PASSWORD is no password (refused, exit 2); an empty --secret is
refused, and an empty XQUEUE_VARIANT_SECRET is no secret (with a warning): a variant is never
derived from an empty key.

Exit status: 0 done (with --once), 2 refused (bad options, wrong credentials, unknown
queue), 3 XQueue unreachable after the bounded retries. No Flask or database is used.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from problems import kinds
from problems.errors import SpecError
from problems.kinds.base import GradeResult, Problem, format_number

log = logging.getLogger("grader.xqueue")

EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE = 0, 2, 3
SECRET_ENV = "XQUEUE_VARIANT_SECRET"
PASSWORD_ENV = "XQUEUE_PASSWORD"
# XQueue answers a request whose session has expired with this (its login view, via redirect).
LOGIN_REQUIRED = "login_required"
# How much of an answer the feedback echoes: grids have at most a few rows of short lines.
ECHO_MAX_LINES = 12
ECHO_MAX_LINE_CHARS = 160
MAX_UNKNOWN_SHOWN = 10  # unknown part ids named in the feedback, each cut to ID_MAX_CHARS
ID_MAX_CHARS = 40
# What XML 1.0 cannot hold: CodeResponse parses `msg` as XML and turns a reply it cannot parse
# into "Invalid grader reply", so a control character typed in an answer is shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XQueueError(Exception):
    """XQueue refused a request (return_code 1) or did not answer as XQueue does."""


class AuthError(XQueueError):
    """The login was refused."""


class Unavailable(XQueueError):
    """XQueue could not be reached (network errors or 5xx) within the bounded retries."""


# ---------------------------------------------------------------- the HTTP client


class XQueueClient:
    """The pull interface of one queue: login, get_queuelen, get_submission, put_result.

    Every request has a timeout; network errors and 5xx replies are retried with exponential
    backoff, `retries` times; an expired session is logged in again once."""

    def __init__(
        self,
        url: str,
        queue: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = url.rstrip("/")
        self.queue = queue
        self.username = username
        self.password = password
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.session = session or requests.Session()
        self.sleep = sleep

    def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One XQueue call, retried: its `(return_code, content)`."""
        url = f"{self.base}/xqueue/{path}/"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                log.warning(
                    "%s %s failed (%s); retry %d of %d in %.2fs",
                    method,
                    path,
                    problem,
                    attempt,
                    self.retries,
                    delay,
                )
                self.sleep(delay)
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as err:
                problem = type(err).__name__
                continue
            except requests.RequestException as err:  # a URL requests refuses: no retry helps
                raise XQueueError(f"{method} {url}: {err}") from None
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"HTTP {response.status_code}"
                continue
            try:
                reply = response.json()
                return int(reply["return_code"]), reply.get("content")
            except (ValueError, KeyError, TypeError):
                raise XQueueError(
                    f"{method} {url}: not an XQueue reply (HTTP {response.status_code})"
                ) from None
        raise Unavailable(f"{method} {url}: gave up after {self.retries + 1} tries ({problem})")

    def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        code, content = self._send(method, path, **kwargs)
        if code != 0 and content == LOGIN_REQUIRED:
            self.login()
            code, content = self._send(method, path, **kwargs)
        return code, content

    def login(self) -> None:
        """Log in (a session cookie); AuthError if refused."""
        code, content = self._send(
            "POST", "login", data={"username": self.username, "password": self.password}
        )
        if code != 0:
            raise AuthError(f"XQueue login as {self.username!r} refused: {content}")

    def queue_length(self) -> int:
        """The number of submissions waiting in the queue."""
        code, content = self._call("GET", "get_queuelen", params={"queue_name": self.queue})
        if code != 0:
            raise XQueueError(f"get_queuelen {self.queue!r}: {content}")
        return int(content)

    def get_submission(self) -> dict[str, Any] | None:
        """The next submission (`xqueue_header`, `xqueue_body`, `xqueue_files`), or None if
        the queue is empty."""
        code, content = self._call("GET", "get_submission", params={"queue_name": self.queue})
        if code != 0:
            if isinstance(content, str) and content.endswith("is empty"):
                return None
            raise XQueueError(f"get_submission {self.queue!r}: {content}")
        submission = json.loads(content) if isinstance(content, str) else content
        if not isinstance(submission, dict):
            raise XQueueError(f"get_submission {self.queue!r}: not a submission: {content!r}")
        return submission

    def put_result(self, header: str, reply: Mapping[str, Any]) -> bool:
        """Post a grade; False (logged) if XQueue refuses it, e.g. for a stale key."""
        code, content = self._call(
            "POST", "put_result", data={"xqueue_header": header, "xqueue_body": json.dumps(reply)}
        )
        if code != 0:
            log.warning("put_result refused: %s", content)
            return False
        return True


# ---------------------------------------------------------------- grading one submission


@dataclass(frozen=True)
class Reply:
    """What goes back to the LMS: full marks or not, points earned, HTML feedback."""

    correct: bool
    score: float
    msg: str

    def to_json(self) -> dict[str, Any]:
        """The `xqueue_body` of put_result, as CodeResponse parses it."""
        return {"correct": self.correct, "score": max(0.0, round(self.score, 6)), "msg": self.msg}


class Refusal(Exception):
    """A submission that cannot be graded because of the problem's setup (its grader_payload,
    the grader's configuration, what the platform sent), with the message the learner sees
    (plain text): nothing the learner can fix, so they are asked to tell the instructor."""


class AnswerRefusal(Refusal):
    """The learner's answer as a whole cannot be read (plain text or nothing for a problem of
    several parts, broken JSON): the message (plain text) says what is wrong with it, and the
    reply lists the parts and says how to fix it."""

    def __init__(self, message: str, problem: Problem) -> None:
        super().__init__(message)
        self.problem = problem


def variant_seed(secret: str, anonymous_student_id: str, kind: str, difficulty: int) -> int:
    """The learner's variant: HMAC-SHA256 of (anonymous id, kind, difficulty), 63 bits.
    An empty secret is refused: every learner's variant would be public."""
    if not secret:
        raise ValueError("the variant secret is empty")
    message = f"{anonymous_student_id}:{kind}:{difficulty}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & kinds.MAX_SEED


def _json_object(text: Any, what: str) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise Refusal(f"The {what} is not JSON.") from None
    if not isinstance(value, dict):
        raise Refusal(f"The {what} is not a JSON object.")
    return value


def problem_for(
    payload: Mapping[str, Any], student_info: Mapping[str, Any], secret: str | None
) -> tuple[Problem, float]:
    """The variant a submission answers and the points it is worth, from the payload: 1 by
    default, as capa's <textbox> is (a score above the textbox's points is cut to them by
    older platforms, or counted above 100% by newer ones)."""
    kind, difficulty = payload.get("kind"), payload.get("difficulty")
    if not isinstance(kind, str):
        raise Refusal('The grader payload has no "kind".')
    if type(difficulty) is not int:
        raise Refusal('The grader payload has no whole-number "difficulty" (1, 2 or 3).')
    seed = payload.get("seed")
    if seed is None:
        learner = student_info.get("anonymous_student_id")
        if not secret:
            raise Refusal("The grader payload has no seed and the grader has no variant secret.")
        if not isinstance(learner, str) or not learner:
            raise Refusal("The submission has no anonymous_student_id to derive the variant from.")
        seed = variant_seed(secret, learner, kind, difficulty)
    points = payload.get("points")
    if points is not None and (
        isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0
    ):
        raise Refusal('The grader payload\'s "points" is not a positive number.')
    try:
        problem = kinds.generate(kind, difficulty, seed)
    except SpecError as err:
        raise Refusal(f"The grader payload is wrong: {err}.") from None
    return problem, float(points) if points is not None else 1.0


def _answer_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, list)) and not isinstance(value, bool):
        return json.dumps(value)
    return ""


def read_answers(problem: Problem, response: Any) -> tuple[dict[str, str], list[str]]:
    """The learner's answers by part id, and the part ids they sent that do not exist.

    A JSON string may hold raw line breaks (strict=False): a grid typed one row per line
    inside the quotes is read as typed. AnswerRefusal when a problem of several parts gets
    no JSON object."""
    text = response if isinstance(response, str) else json.dumps(response)
    error: json.JSONDecodeError | None = None
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as err:
        value, error = None, err
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        value = None
    if isinstance(value, dict):
        ids = {p.id for p in problem.parts}
        answers = {str(k): _answer_text(v) for k, v in value.items() if str(k) in ids}
        return answers, sorted(str(k) for k in value if str(k) not in ids)
    if len(problem.parts) == 1:
        return {problem.parts[0].id: text}, []
    stripped = text.strip()
    if not stripped:
        why = "The answer is empty."
    elif stripped.startswith("{") and error is not None:
        why = (
            f"The answer is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno} (part ids and answers go in double quotes, separated by commas)."
        )
    elif value is not None:
        what = "a list" if isinstance(value, list) else "a single value"
        why = f"The answer is {what}, not a JSON object."
    else:
        why = "The answer is plain text, not a JSON object."
    raise AnswerRefusal(why, problem)


def _esc(text: str) -> str:
    """Text as HTML that is also well-formed XML (what CodeResponse requires of `msg`)."""
    return html.escape(_NOT_XML.sub("\ufffd", text))


def _echo(text: str) -> str:
    """What the learner typed, escaped: one line in <code>, several in <pre><code> so a
    grid's rows show as rows. At most ECHO_MAX_LINES lines of ECHO_MAX_LINE_CHARS characters
    are shown; a cut answer ends with "…" and says how long it was."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    shown = [
        line if len(line) <= ECHO_MAX_LINE_CHARS else line[: ECHO_MAX_LINE_CHARS - 1] + "…"
        for line in lines[:ECHO_MAX_LINES]
    ]
    hidden = len(lines) - len(shown)
    if hidden:
        shown.append(f"… ({hidden} more line{'s' if hidden != 1 else ''})")
    cut = hidden or any(len(line) > ECHO_MAX_LINE_CHARS for line in lines[:ECHO_MAX_LINES])
    note = f" <i>(cut: {len(text):,} characters in all)</i>" if cut else ""
    if len(shown) == 1:
        return f"<code>{_esc(shown[0])}</code>{note}"
    rows = _esc("\n".join(shown))
    return f"<pre><code>{rows}</code></pre>{note}"


def _answered(given: str) -> str:
    """ "You answered ..." for a graded part: inline for one line, a block for several."""
    if not given.strip():
        return "You gave no answer."
    echoed = _echo(given)
    return f"You answered:{echoed}" if echoed.startswith("<pre>") else f"You answered {echoed}."


def _part_list(problem: Problem) -> str:
    """The parts as an HTML list: id, what is asked, and how to write the answer."""
    items = "".join(
        f"<li><code>{_esc(p.id)}</code>: {_esc(p.prompt)} ({_esc(p.hint)})</li>"
        for p in problem.parts
    )
    return f"<ul>{items}</ul>"


def _answer_refused(err: AnswerRefusal) -> str:
    """The message for an answer that cannot be read as a whole: what is wrong, how to type
    it, the parts, and that a corrected answer can be submitted again."""
    problem = err.problem
    example = json.dumps({p.id: "..." for p in problem.parts})
    grids = ""
    if any(p.answer_type == "grid" for p in problem.parts):
        grids = " Inside the quotes a grid may take one row per line, or rows separated by ;."
    return (
        f'<div class="cnnquiz"><p>Not graded (score 0): {_esc(str(err))} This problem has '
        "several parts, so type a JSON object of part id to answer, e.g. "
        f"<code>{_esc(example)}</code>.{grids}</p><p>The parts:</p>{_part_list(problem)}"
        "<p>Fix your answer and submit again (XQueue cannot return an answer ungraded, so this "
        "one is scored 0).</p></div>"
    )


def _part_rows(problem: Problem, result: GradeResult, answers: Mapping[str, str]) -> list[str]:
    rows = []
    for part, graded in zip(problem.parts, result.parts, strict=True):
        given = answers.get(part.id, "")
        label = f"<b>{_esc(part.prompt)}</b> <code>{_esc(part.id)}</code>"
        if graded.format_error:
            if not given.strip():  # the feedback says "No answer given"
                rows.append(f"<li>{label}: {_esc(graded.feedback)}</li>")
            else:
                echoed = _echo(given)
                colon = "" if echoed.startswith("<pre>") else ":"
                rows.append(
                    f"<li>{label}: could not read {echoed}{colon} {_esc(graded.feedback)}</li>"
                )
            continue
        status = (
            "correct" if graded.correct else ("partly right" if graded.score > 0 else "not right")
        )
        earned = f"{format_number(graded.earned)} / {format_number(graded.points)}"
        row = f"<li>{label}: {status} ({earned}). {_answered(given)} {_esc(graded.feedback)}"
        if graded.misconception is not None:
            row += f"<br/><i>Misconception: {_esc(graded.misconception.name)}</i>"
        rows.append(row + "</li>")
    return rows


def grade_submission(body_text: Any, secret: str | None) -> Reply:
    """The reply to one `xqueue_body`; never raises for anything a submission contains."""
    try:
        body = _json_object(body_text, "submission body")
        student_info = _json_object(body.get("student_info") or "{}", "student_info")
        payload = _json_object(body.get("grader_payload"), "grader payload")
        problem, points = problem_for(payload, student_info, secret)
        answers, unknown = read_answers(problem, body.get("student_response", ""))
    except AnswerRefusal as err:
        return Reply(False, 0.0, _answer_refused(err))
    except Refusal as err:
        return Reply(
            False,
            0.0,
            f'<div class="cnnquiz"><p>Not graded (score 0): {_esc(str(err))} This is a '
            "problem with how the exercise is set up, not with your answer: please tell your "
            "instructor.</p></div>",
        )
    result = kinds.grade(problem, answers)
    rows = _part_rows(problem, result, answers)
    extra = ""
    if unknown:
        named = [u if len(u) <= ID_MAX_CHARS else u[: ID_MAX_CHARS - 1] + "…" for u in unknown]
        more = len(named) - MAX_UNKNOWN_SHOWN
        listed = ", ".join(named[:MAX_UNKNOWN_SHOWN]) + (f" and {more} more" if more > 0 else "")
        extra = (
            f"<p>Ignored unknown parts: {_esc(listed)}. "
            f"The parts are: {_esc(', '.join(p.id for p in problem.parts))}.</p>"
        )
    if not result.valid:
        return Reply(
            False,
            0.0,
            (
                '<div class="cnnquiz"><p>Some answers could not be read, so nothing was graded '
                "(score 0). XQueue has no way to return a submission ungraded: fix the format "
                f"and submit again.</p><ul>{''.join(rows)}</ul>{extra}</div>"
            ),
        )
    score = result.fraction * points
    full = result.fraction >= 1.0 - 1e-9
    head = f"<p><b>Score: {format_number(score)} / {format_number(points)}</b></p>"
    return Reply(full, score, f'<div class="cnnquiz">{head}<ul>{"".join(rows)}</ul>{extra}</div>')


def process(submission: Mapping[str, Any], secret: str | None) -> tuple[str, Reply] | None:
    """The header to answer with and the reply for a pulled submission (None without a
    usable header: then no reply is possible)."""
    header = submission.get("xqueue_header")
    if not isinstance(header, str):
        log.error("submission without an xqueue_header: %.200r", submission)
        return None
    try:
        parsed = json.loads(header)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not {"submission_id", "submission_key"} <= set(parsed):
        log.error("submission without a usable xqueue_header: %.200r", header)
        return None
    try:
        reply = grade_submission(submission.get("xqueue_body"), secret)
    except Exception:  # a bug of ours must not stop the queue: answer, log, go on
        log.exception("grading submission %s failed", parsed.get("submission_id"))
        reply = Reply(
            False,
            0.0,
            '<div class="cnnquiz"><p>Not graded (score 0): the grader '
            "failed on this submission. Please tell your instructor.</p></div>",
        )
    return header, reply


# ---------------------------------------------------------------- the loop


def run(
    client: XQueueClient,
    secret: str | None,
    *,
    once: bool,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    max_rounds: int | None = None,
) -> int:
    """Grade until the queue is empty (`once`) or forever; the number of replies posted.

    In the forever mode an unreachable XQueue is waited out; with `once` it is raised."""
    client.login()
    posted = 0
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        try:
            waiting = client.queue_length()
            while waiting > 0:
                submission = client.get_submission()
                if submission is None:
                    break
                done = process(submission, secret)
                if done is not None:
                    header, reply = done
                    if client.put_result(header, reply.to_json()):
                        posted += 1
                        log.info(
                            "graded submission %s: score %s, correct %s",
                            json.loads(header).get("submission_id"),
                            reply.score,
                            reply.correct,
                        )
                waiting = client.queue_length()
        except Unavailable:
            if once:
                raise
            log.exception("XQueue unavailable; trying again in %ss", poll_seconds)
        if once:
            return posted
        sleep(poll_seconds)
    return posted


def xqueue_url(text: str) -> str:
    """The --url option's type: an absolute http or https URL with a host (a path is kept,
    for an XQueue served under one). Refused at parsing, naming --url, with exit status 2:
    otherwise requests would fail on the first call, as a traceback."""
    example = "e.g. https://xqueue.example.org"
    try:
        parts = urllib.parse.urlsplit(text.strip())
        parts.port  # noqa: B018 - reading it checks the port (ValueError when not a number)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL ({err}); {example}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise argparse.ArgumentTypeError(
            f"expected an absolute http:// or https:// URL, {example}; got {text!r}"
        )
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} has no host name; {example}")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"{text!r} has a query or fragment; give XQueue's base URL, {example}"
        )
    try:  # and whatever else requests would refuse (a space in the host, say)
        requests.PreparedRequest().prepare_url(text.strip(), None)
    except requests.RequestException as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL ({err}); {example}") from None
    return text.strip()


EPILOG = f"""\
exit status:
  {EXIT_OK}  done: the queue is empty (--once), or stopped with Ctrl-C
  {EXIT_REFUSED}  refused: bad options, no password, login refused, unknown queue, or a
     server that does not answer as XQueue does
  {EXIT_UNAVAILABLE}  XQueue unreachable after the bounded retries (at login, or with --once)"""


MAX_SECONDS = 3600.0  # the longest pause, timeout or first retry delay an option may set
MAX_RETRIES = 100


def _seconds(low_exclusive: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, up to MAX_SECONDS, above 0 or at least 0
    (a timeout of `inf` overflowed the socket's clock; `nan` compared as no bound at all)."""
    least = "more than 0" if low_exclusive else "0 or more"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not math.isfinite(value) or value > MAX_SECONDS or value < 0 or (
                low_exclusive and value == 0):
            raise argparse.ArgumentTypeError(
                f"expected seconds, {least} and at most {MAX_SECONDS:g}, got {text!r}")
        return value

    return parse


def _retries(text: str) -> int:
    """An argparse type: a whole number of retries from 0 to MAX_RETRIES."""
    if not text.strip().isdigit() or int(text) > MAX_RETRIES:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {MAX_RETRIES}, got {text!r}")
    return int(text)


def _name(text: str) -> str:
    """An argparse type for --queue and --user: not empty (nor only spaces), which XQueue
    would only refuse after the login, or retry."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command line's options; --help shows each default and the exit statuses."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.xqueue",
        description="Grade CNN-arithmetic submissions from an Open edX XQueue.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url",
        required=True,
        type=xqueue_url,
        help="XQueue's base URL (http or https), e.g. https://xqueue.example.org",
    )
    parser.add_argument("--queue", required=True, type=_name, help="the queue name")
    parser.add_argument("--user", required=True, type=_name, help="the grader's XQueue user name")
    parser.add_argument(
        "--password",
        help=f"the grader's XQueue password (default: ${PASSWORD_ENV}; empty is no password)",
    )
    parser.add_argument(
        "--secret",
        help=(
            f"the variant secret for payloads without a seed (default: ${SECRET_ENV}; when "
            "that is unset or empty, only payloads with a seed are graded)"
        ),
    )
    parser.add_argument(
        "--once", action="store_true", help="grade until the queue is empty, then exit"
    )
    parser.add_argument(
        "--poll-seconds", type=_seconds(False), default=2.0, help="pause between polls in seconds (default %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=_seconds(True), default=30.0, help="per-request timeout in seconds (default %(default)s)"
    )
    parser.add_argument(
        "--retries", type=_retries, default=5, help="retries of a failed request (default %(default)s)"
    )
    parser.add_argument(
        "--backoff",
        type=_seconds(False),
        default=1.0,
        help="first retry delay in seconds, doubled each retry (default %(default)s)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every request retry and grade"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grader; the exit status (0, 2 refused, 3 unavailable)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.password is not None:
        password, source = args.password, "--password"
    else:
        password, source = os.environ.get(PASSWORD_ENV), PASSWORD_ENV
    if not password:
        empty = f" ({source} is empty)" if password == "" else ""
        print(
            f"error: no password{empty}: give --password or set {PASSWORD_ENV}", file=sys.stderr
        )
        return EXIT_REFUSED
    if args.secret == "":
        print(
            "error: --secret is empty: give the variant secret, or leave --secret out to grade "
            "only payloads with a seed",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV)
    if not secret:  # unset is a choice (fixed seeds only); an empty variable is likely a slip
        log.log(
            logging.INFO if secret is None else logging.WARNING,
            "no variant secret (%s): only payloads with a seed are graded; the others get "
            "score 0 and a message asking the learner to tell the instructor",
            f"--secret or {SECRET_ENV}" if secret is None else f"{SECRET_ENV} is empty",
        )
        secret = None
    client = XQueueClient(
        args.url,
        args.queue,
        args.user,
        password,
        timeout=args.timeout,
        retries=args.retries,
        backoff=args.backoff,
    )
    try:
        posted = run(client, secret, once=args.once, poll_seconds=args.poll_seconds)
    except Unavailable as err:
        print(f"error: XQueue unavailable: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except XQueueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return EXIT_OK
    print(f"posted {posted} result{'s' if posted != 1 else ''}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
