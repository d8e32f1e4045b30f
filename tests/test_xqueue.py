"""The XQueue pull grader against a fake XQueue (http.server on 127.0.0.1) that speaks the
pull interface of openedx/xqueue: login with a session cookie, get_queuelen,
get_submission and put_result with the submission key checked."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from grader.xqueue import (
    ECHO_MAX_LINE_CHARS,
    ECHO_MAX_LINES,
    grade_submission,
    main,
    process,
    variant_seed,
)
from problems import kinds
from problems.exports.common import accepted_texts, wrong_answers

USER, PASSWORD, QUEUE, SECRET = "grader", "s3cret", "cnn-quiz", "variant-secret"


class FakeXQueue(ThreadingHTTPServer):
    """Queued submissions in, graded replies out; `fail_next` 500s before serving."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.queue: list[dict[str, Any]] = []
        self.pulled: dict[int, str] = {}
        self.replies: dict[int, dict[str, Any]] = {}
        self.sessions: set[str] = set()
        self.fail_next = 0
        self.requests = 0
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def submit(self, response: Any, payload: Any, student: str = "learner-1") -> int:
        """Queue a submission as the LMS would (body fields are JSON strings)."""
        submission_id = self.next_id
        self.next_id += 1
        body = {
            "student_info": json.dumps(
                {
                    "anonymous_student_id": student,
                    "submission_time": "20260101120000",
                    "random_seed": 1,
                }
            ),
            "student_response": response,
            "grader_payload": payload if isinstance(payload, str) else json.dumps(payload),
        }
        self.queue.append({"id": submission_id, "body": json.dumps(body)})
        return submission_id

    def submit_raw_body(self, body: str) -> int:
        submission_id = self.next_id
        self.next_id += 1
        self.queue.append({"id": submission_id, "body": body})
        return submission_id


class Handler(BaseHTTPRequestHandler):
    server: FakeXQueue

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, ok: bool, content: Any, cookie: str | None = None, status: int = 200) -> None:
        data = json.dumps({"return_code": 0 if ok else 1, "content": content}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if cookie:
            self.send_header("Set-Cookie", f"sessionid={cookie}; Path=/")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _failing(self) -> bool:
        self.server.requests += 1
        if self.server.fail_next > 0:
            self.server.fail_next -= 1
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def _logged_in(self) -> bool:
        cookies = dict(
            c.strip().split("=", 1)
            for c in (self.headers.get("Cookie") or "").split(";")
            if "=" in c
        )
        return cookies.get("sessionid") in self.server.sessions

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self._failing():
            return
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if not self._logged_in():
            self._reply(False, "login_required")
            return
        if query.get("queue_name") != QUEUE:
            self._reply(False, f"Valid queue names are: {QUEUE}")
            return
        if url.path == "/xqueue/get_queuelen/":
            self._reply(True, len(self.server.queue))
        elif url.path == "/xqueue/get_submission/":
            if not self.server.queue:
                self._reply(False, f"Queue '{QUEUE}' is empty")
                return
            item = self.server.queue.pop(0)
            key = f"key-{item['id']}"
            self.server.pulled[item["id"]] = key
            header = json.dumps({"submission_id": item["id"], "submission_key": key})
            self._reply(
                True,
                json.dumps(
                    {"xqueue_header": header, "xqueue_body": item["body"], "xqueue_files": "{}"}
                ),
            )
        else:
            self._reply(False, "not found", status=404)

    def do_POST(self) -> None:  # noqa: N802
        if self._failing():
            return
        form = self._form()
        if self.path == "/xqueue/login/":
            if form.get("username") == USER and form.get("password") == PASSWORD:
                session = f"s{len(self.server.sessions) + 1}"
                self.server.sessions.add(session)
                self._reply(True, "Logged in", cookie=session)
            else:
                self._reply(False, "Incorrect login credentials")
        elif self.path == "/xqueue/put_result/":
            if not self._logged_in():
                self._reply(False, "login_required")
                return
            header = json.loads(form["xqueue_header"])
            if self.server.pulled.get(header["submission_id"]) != header["submission_key"]:
                self._reply(False, "Incorrect key for submission")
                return
            self.server.replies[header["submission_id"]] = json.loads(form["xqueue_body"])
            self._reply(True, "")
        else:
            self._reply(False, "not found", status=404)


@pytest.fixture
def xqueue() -> Iterator[FakeXQueue]:
    server = FakeXQueue()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(server: FakeXQueue, *extra: str, password: str = PASSWORD) -> int:
    return main(
        [
            "--url",
            server.url,
            "--queue",
            QUEUE,
            "--user",
            USER,
            "--password",
            password,
            "--secret",
            SECRET,
            "--once",
            "--poll-seconds",
            "0",
            "--backoff",
            "0.01",
            "--timeout",
            "5",
            *extra,
        ]
    )


def _correct(problem: Any) -> dict[str, str]:
    return kinds.self_test(problem).correct


def _check_msg(reply: dict[str, Any]) -> str:
    assert set(reply) == {"correct", "score", "msg"}
    assert isinstance(reply["correct"], bool) and reply["score"] >= 0
    ET.fromstring(reply["msg"])  # CodeResponse parses msg as XML first
    return reply["msg"]


PAYLOAD = {"kind": "output_shape", "difficulty": 1, "seed": 3, "points": 2}


def test_queue_of_mixed_submissions_gets_one_reply_each(xqueue):
    problem = kinds.generate("output_shape", 1, 3)
    right = _correct(problem)
    part_id, [wrong, *_] = next(iter(wrong_answers(problem).items()))
    mistaken = {**right, part_id: accepted_texts(problem.part(part_id), wrong.value)[0]}
    ids = {
        "correct": xqueue.submit(json.dumps(right), PAYLOAD),
        "misconception": xqueue.submit(json.dumps(mistaken), PAYLOAD),
        "unparseable": xqueue.submit("26x26x32 and the rest", PAYLOAD),
        "format": xqueue.submit(
            json.dumps({**right, part_id: "<script>alert(1)</script>"}), PAYLOAD
        ),
        "bad_payload": xqueue.submit(json.dumps(right), "{kind: output_shape"),
        "unknown_kind": xqueue.submit(json.dumps(right), {"kind": "nope", "difficulty": 1}),
        "bad_body": xqueue.submit_raw_body("this is not JSON"),
    }
    assert _run(xqueue) == 0
    assert not xqueue.queue and set(xqueue.replies) == set(ids.values())
    replies = {name: xqueue.replies[i] for name, i in ids.items()}
    for reply in replies.values():
        _check_msg(reply)

    assert replies["correct"]["correct"] is True and replies["correct"]["score"] == 2

    mis = replies["misconception"]
    n = len(problem.parts)
    assert mis["correct"] is False and mis["score"] == pytest.approx(2 * (n - 1) / n)
    assert "Misconception: " + wrong.misconception.name.replace('"', "&quot;") in mis["msg"]

    assert replies["unparseable"] == {
        "correct": False,
        "score": 0,
        "msg": replies["unparseable"]["msg"],
    }
    assert "JSON object of part id to answer" in replies["unparseable"]["msg"]

    fmt = replies["format"]
    assert fmt["correct"] is False and fmt["score"] == 0
    assert "<script>" not in fmt["msg"] and "&lt;script&gt;" in fmt["msg"]
    assert "submit again" in fmt["msg"] and "no way to return a submission ungraded" in fmt["msg"]

    assert (
        replies["bad_payload"]["score"] == 0
        and "grader payload is not JSON" in replies["bad_payload"]["msg"]
    )
    assert (
        replies["unknown_kind"]["score"] == 0
        and "unknown problem kind" in replies["unknown_kind"]["msg"]
    )
    assert (
        replies["bad_body"]["score"] == 0
        and "submission body is not JSON" in replies["bad_body"]["msg"]
    )


def test_one_part_problem_takes_plain_text(xqueue):
    seed = next(s for s in range(200) if len(kinds.generate("receptive_field", 1, s).parts) == 1)
    problem = kinds.generate("receptive_field", 1, seed)
    [answer] = _correct(problem).values()
    first = xqueue.submit(answer, {"kind": "receptive_field", "difficulty": 1, "seed": seed})
    second = xqueue.submit(
        "  " + str(int(answer.replace(",", "")) + 1) + " ",
        {"kind": "receptive_field", "difficulty": 1, "seed": seed},
    )
    assert _run(xqueue) == 0
    assert (
        xqueue.replies[first]["correct"] is True
        and xqueue.replies[first]["score"] == 1  # no "points": out of 1, as capa's textbox
    )
    assert xqueue.replies[second]["correct"] is False and xqueue.replies[second]["score"] == 0


def test_payload_without_seed_grades_the_learners_own_variant(xqueue):
    payload = {"kind": "param_count", "difficulty": 1}
    mine = kinds.generate("param_count", 1, variant_seed(SECRET, "learner-7", "param_count", 1))
    other = kinds.generate("param_count", 1, variant_seed(SECRET, "learner-8", "param_count", 1))
    assert mine.fingerprint() != other.fingerprint()
    ok = xqueue.submit(json.dumps(_correct(mine)), payload, student="learner-7")
    swapped = xqueue.submit(json.dumps(_correct(mine)), payload, student="learner-8")
    assert _run(xqueue) == 0
    assert xqueue.replies[ok]["correct"] is True
    assert xqueue.replies[swapped]["correct"] is False


def test_payload_without_seed_and_no_secret_is_refused_with_a_message():
    body = json.dumps(
        {
            "student_info": json.dumps({"anonymous_student_id": "x"}),
            "student_response": "{}",
            "grader_payload": json.dumps({"kind": "param_count", "difficulty": 1}),
        }
    )
    reply = grade_submission(body, None).to_json()
    assert reply["score"] == 0 and "no variant secret" in _check_msg(reply)


def test_unknown_parts_are_named_and_escaped():
    problem = kinds.generate("output_shape", 1, 3)
    answers = {**_correct(problem), "<b>x</b>": "1"}
    body = json.dumps(
        {
            "student_info": "{}",
            "student_response": json.dumps(answers),
            "grader_payload": json.dumps(PAYLOAD),
        }
    )
    reply = grade_submission(body, None).to_json()
    assert reply["correct"] is True
    msg = _check_msg(reply)
    assert "Ignored unknown parts: &lt;b&gt;x&lt;/b&gt;" in msg


def test_wrong_credentials_exit_cleanly_with_a_message(xqueue, capsys):
    xqueue.submit("1", PAYLOAD)
    assert _run(xqueue, password="wrong") == 2
    err = capsys.readouterr().err
    assert "login" in err and "Incorrect login credentials" in err and "Traceback" not in err
    assert xqueue.queue and not xqueue.replies


def test_unknown_queue_exits_with_the_queues_xqueue_names(xqueue, capsys):
    code = main(
        [
            "--url",
            xqueue.url,
            "--queue",
            "other",
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--once",
            "--backoff",
            "0",
        ]
    )
    assert code == 2
    assert f"Valid queue names are: {QUEUE}" in capsys.readouterr().err


def test_server_errors_are_retried_with_backoff_then_succeed(xqueue):
    problem = kinds.generate("output_shape", 1, 3)
    submission = xqueue.submit(json.dumps(_correct(problem)), PAYLOAD)
    xqueue.fail_next = 3
    assert _run(xqueue, "--retries", "4") == 0
    assert xqueue.replies[submission]["correct"] is True
    assert xqueue.requests >= 3 + 5  # the failures, then login, len, get, put, len


def test_retries_are_bounded_when_xqueue_stays_down(xqueue, capsys):
    xqueue.fail_next = 100
    assert _run(xqueue, "--retries", "2") == 3
    assert xqueue.requests == 3
    assert "unavailable" in capsys.readouterr().err


def test_unreachable_xqueue_gives_up_after_bounded_retries(capsys):
    server = FakeXQueue()
    url = server.url
    server.server_close()  # nothing listens there any more
    code = main(
        [
            "--url",
            url,
            "--queue",
            QUEUE,
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--once",
            "--retries",
            "1",
            "--backoff",
            "0",
            "--timeout",
            "2",
        ]
    )
    assert code == 3
    assert "gave up after 2 tries" in capsys.readouterr().err


def test_expired_session_logs_in_again(xqueue):
    problem = kinds.generate("output_shape", 1, 3)
    first = xqueue.submit(json.dumps(_correct(problem)), PAYLOAD)
    original = Handler._logged_in
    calls = {"n": 0}

    def expire_once(self: Handler) -> bool:
        calls["n"] += 1
        return False if calls["n"] == 2 else original(self)

    Handler._logged_in = expire_once  # type: ignore[method-assign]
    try:
        assert _run(xqueue) == 0
    finally:
        Handler._logged_in = original  # type: ignore[method-assign]
    assert xqueue.replies[first]["correct"] is True
    assert len(xqueue.sessions) == 2


def test_submission_without_a_usable_header_gets_no_reply_and_no_crash():
    assert process({"xqueue_header": "not json", "xqueue_body": "{}"}, None) is None
    assert process({"xqueue_body": "{}"}, None) is None


def test_a_bug_while_grading_becomes_a_zero_reply(monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("grader.xqueue.kinds.grade", broken)
    header = json.dumps({"submission_id": 1, "submission_key": "k"})
    body = json.dumps(
        {"student_info": "{}", "student_response": "{}", "grader_payload": json.dumps(PAYLOAD)}
    )
    done = process({"xqueue_header": header, "xqueue_body": body}, None)
    assert done is not None and done[0] == header
    reply = done[1].to_json()
    assert reply["correct"] is False and reply["score"] == 0
    assert "grader failed" in _check_msg(reply)


@pytest.mark.parametrize(
    "url",
    [
        "xqueue.example.edu",  # no scheme
        "xqueue.example.edu:443",
        "ftp://x.example",
        "http://",  # no host
        "http://[::1",  # unclosed IPv6 bracket
        "https://x.example:99999",
        "https://a b.example",
        "https://x.example/?queue=q",
    ],
)
def test_a_url_that_is_not_an_http_base_url_is_refused_at_parsing(url, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--url", url, "--queue", QUEUE, "--user", USER, "--password", PASSWORD, "--once"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("python -m grader.xqueue: error: argument --url: ")


def test_a_url_requests_refuses_after_parsing_is_exit_2_not_a_traceback(monkeypatch, capsys):
    import requests

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.InvalidURL("Failed to parse")

    monkeypatch.setattr(requests.Session, "request", refuse)
    code = main(
        ["--url", "https://x.example", "--queue", QUEUE, "--user", USER,
         "--password", PASSWORD, "--once"]
    )
    assert code == 2
    assert "error: POST https://x.example/xqueue/login/: Failed to parse" in capsys.readouterr().err


def test_help_shows_the_defaults_and_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default 2.0)", "(default 30.0)", "(default 5)", "(default 1.0)"):
        assert default in out
    assert "exit status: 0 done" in out and " 2 refused" in out and " 3 XQueue unreachable" in out


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", "inf"), ("--timeout", "0"), ("--timeout", "5000"), ("--backoff", "nan"),
     ("--poll-seconds", "-1"), ("--poll-seconds", "x"), ("--retries", "1e3"), ("--retries", "-1")],
)
def test_numeric_options_out_of_range_are_refused_at_parsing(option, value, capsys):
    """A timeout of inf overflowed the socket's clock (a traceback); nan was taken as no
    bound. Each is now exit 2 naming its option, before anything is sent."""
    with pytest.raises(SystemExit) as stopped:
        main(["--url", "https://x.example", "--queue", QUEUE, "--user", USER,
              "--password", PASSWORD, "--once", option, value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(
        f"python -m grader.xqueue: error: argument {option}: expected ")


# ---------------------------------------------------------------- empty options (QA finding 1)


def _main_args(url: str, *extra: str) -> list[str]:
    return ["--url", url, "--queue", QUEUE, "--user", USER, "--once", "--backoff", "0", *extra]


@pytest.mark.parametrize(
    ("env", "option", "named"),
    [
        ("", [], "XQUEUE_PASSWORD is empty"),
        (None, ["--password", ""], "--password is empty"),
        (PASSWORD, ["--password", ""], "--password is empty"),  # not a fallback to the variable
        (None, [], None),
    ],
)
def test_an_empty_password_is_no_password(xqueue, monkeypatch, capsys, env, option, named):
    """XQUEUE_PASSWORD= or --password '' was sent as a password (a login retried for ~31 s
    against a dead address, exit 3): now refused before any request, as no password is."""
    if env is None:
        monkeypatch.delenv("XQUEUE_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("XQUEUE_PASSWORD", env)
    assert main(_main_args(xqueue.url, *option)) == 2
    err = capsys.readouterr().err
    assert "error: no password" in err and "give --password or set XQUEUE_PASSWORD" in err
    if named:
        assert named in err
    assert xqueue.requests == 0 and "Traceback" not in err


def test_an_empty_password_variable_is_refused_at_once_from_the_command_line():
    """The QA report's command, run as a process: exit 2 in well under the ~31 s of retries."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XQUEUE_PASSWORD": ""}
    done = subprocess.run(
        [sys.executable, "-m", "grader.xqueue", "--url", "http://127.0.0.1:1", "--queue", "q",
         "--user", "g", "--once"],
        env=env, capture_output=True, text=True, timeout=20,
    )
    assert done.returncode == 2
    assert "error: no password (XQUEUE_PASSWORD is empty)" in done.stderr


def test_an_empty_password_variable_with_a_password_option_uses_the_option(xqueue, monkeypatch):
    monkeypatch.setenv("XQUEUE_PASSWORD", "")
    problem = kinds.generate("output_shape", 1, 3)
    submission = xqueue.submit(json.dumps(_correct(problem)), PAYLOAD)
    assert main(_main_args(xqueue.url, "--password", PASSWORD)) == 0
    assert xqueue.replies[submission]["correct"] is True


def test_an_empty_secret_option_is_refused(xqueue, monkeypatch, capsys):
    """--secret '' would have been read as "no secret", silently: refused, since whoever
    typed it meant to give one."""
    monkeypatch.setenv("XQUEUE_VARIANT_SECRET", SECRET)
    assert main(_main_args(xqueue.url, "--password", PASSWORD, "--secret", "")) == 2
    assert "error: --secret is empty" in capsys.readouterr().err
    assert xqueue.requests == 0


def test_an_empty_secret_variable_is_no_secret_and_says_so(xqueue, monkeypatch, caplog):
    """XQUEUE_VARIANT_SECRET= is no secret (never an HMAC key of b""): a warning at start,
    payloads with a seed graded, those without one answered with a setup message."""
    monkeypatch.setenv("XQUEUE_VARIANT_SECRET", "")
    problem = kinds.generate("output_shape", 1, 3)
    seeded = xqueue.submit(json.dumps(_correct(problem)), PAYLOAD)
    unseeded = xqueue.submit("{}", {"kind": "param_count", "difficulty": 1})
    with caplog.at_level("WARNING", logger="grader.xqueue"):
        assert main(_main_args(xqueue.url, "--password", PASSWORD)) == 0
    assert "XQUEUE_VARIANT_SECRET is empty" in caplog.text
    assert xqueue.replies[seeded]["correct"] is True
    msg = _check_msg(xqueue.replies[unseeded])
    assert xqueue.replies[unseeded]["score"] == 0 and "no variant secret" in msg
    with pytest.raises(ValueError):
        variant_seed("", "learner-1", "param_count", 1)


@pytest.mark.parametrize("option", ["--queue", "--user"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_queue_or_user_is_refused_at_parsing(option, value, capsys):
    args = {"--queue": QUEUE, "--user": USER, option: value}
    with pytest.raises(SystemExit) as stopped:
        main(["--url", "https://x.example", "--queue", args["--queue"], "--user", args["--user"],
              "--password", PASSWORD, "--once"])
    assert stopped.value.code == 2
    assert f"error: argument {option}: must not be empty" in capsys.readouterr().err


# ---------------------------------------------------------------- echoes (QA finding 2)


def _seed_with_grid(kind: str, difficulty: int) -> int:
    return next(
        s for s in range(200)
        if any(p.answer_type == "grid" for p in kinds.generate(kind, difficulty, s).parts)
    )


def test_a_grid_answer_is_echoed_row_by_row_and_escaped(xqueue):
    """A grid was echoed inside <code> with raw newlines, so it showed on one line."""
    seed = _seed_with_grid("shift_invariance", 1)
    problem = kinds.generate("shift_invariance", 1, seed)
    [grid] = [p for p in problem.parts if p.answer_type == "grid"]
    rows, cols = grid.grid_shape
    typed = "\n".join(" ".join("9" for _ in range(cols)) for _ in range(rows))
    answers = {**_correct(problem), grid.id: typed}
    unreadable = {**_correct(problem), grid.id: typed + "\n<b>oops</b>"}
    payload = {"kind": "shift_invariance", "difficulty": 1, "seed": seed}
    graded = xqueue.submit(json.dumps(answers), payload)
    refused = xqueue.submit(json.dumps(unreadable), payload)
    assert _run(xqueue) == 0

    for submission, expected in ((graded, typed), (refused, typed + "\n<b>oops</b>")):
        tree = ET.fromstring(_check_msg(xqueue.replies[submission]))
        blocks = ["".join(pre.find("code").itertext()) for pre in tree.iter("pre")]
        assert blocks == [expected]  # every row, as typed, in <pre><code>
    refused_msg = xqueue.replies[refused]["msg"]
    assert "<b>oops</b>" not in refused_msg and "&lt;b&gt;oops&lt;/b&gt;" in refused_msg


def test_a_one_line_answer_stays_inline(xqueue):
    problem = kinds.generate("output_shape", 1, 3)
    submission = xqueue.submit(json.dumps(_correct(problem)), PAYLOAD)
    assert _run(xqueue) == 0
    msg = _check_msg(xqueue.replies[submission])
    assert "<pre>" not in msg and "You answered <code>" in msg


def test_long_answers_are_cut_saying_so():
    seed = _seed_with_grid("pooling_grid", 1)
    payload = json.dumps({"kind": "pooling_grid", "difficulty": 1, "seed": seed})

    def reply_to(answer: str) -> str:
        body = {"student_info": "{}", "student_response": answer, "grader_payload": payload}
        return _check_msg(grade_submission(json.dumps(body), None).to_json())

    long_line = reply_to("7" * 5000)
    assert "7" * ECHO_MAX_LINE_CHARS not in long_line
    assert f"<code>{'7' * (ECHO_MAX_LINE_CHARS - 1)}…</code>" in long_line
    assert "(cut: 5,000 characters in all)" in long_line and len(long_line) < 1500

    many_rows = reply_to("\n".join(["1 2"] * 40))
    assert f"… ({40 - ECHO_MAX_LINES} more lines)" in many_rows
    assert many_rows.count("1 2\n") == ECHO_MAX_LINES
    assert "(cut: 159 characters in all)" in many_rows

    unknown = json.dumps({f"{'z' * 60}{i}": "1" for i in range(15)} | {"output": "1 2\n3 4"})
    msg = reply_to(unknown)
    assert "and 5 more" in msg and "z" * 60 not in msg


def test_control_characters_typed_in_an_answer_keep_the_reply_well_formed_xml():
    """CodeResponse parses msg as XML and shows "Invalid grader reply" when it cannot: a
    control character typed in an answer (echoed and quoted in the feedback) made it so."""
    problem = kinds.generate("output_shape", 1, 3)
    answers = {**_correct(problem), problem.parts[0].id: "26\x01x26\x0bx32\ud800"}
    body = json.dumps(
        {"student_info": "{}", "student_response": json.dumps(answers),
         "grader_payload": json.dumps(PAYLOAD)}
    )
    msg = _check_msg(grade_submission(body, None).to_json())
    assert "\ufffd" in msg and "\x01" not in msg and "\x0b" not in msg


def test_a_grid_typed_across_lines_inside_the_json_object_is_read(xqueue):
    """A raw line break inside a JSON string is not strict JSON, but it is what a learner
    types for a grid in a several-part problem's textbox: read as typed."""
    seed = _seed_with_grid("shift_invariance", 1)
    problem = kinds.generate("shift_invariance", 1, seed)
    right = _correct(problem)
    typed = "{" + ", ".join(f'"{k}": "{v}"' for k, v in right.items()) + "}"
    assert "\n" in typed
    submission = xqueue.submit(typed, {"kind": "shift_invariance", "difficulty": 1, "seed": seed})
    assert _run(xqueue) == 0
    assert xqueue.replies[submission]["correct"] is True


# ---------------------------------------------------------------- advice by cause (finding 3)


@pytest.mark.parametrize(
    ("response", "why"),
    [
        ("", "The answer is empty."),
        ("   \n", "The answer is empty."),
        ("26x26x32", "The answer is plain text, not a JSON object."),
        ('{"shape_0": "26x26x32"', "The answer is not valid JSON: Expecting"),
        ("{'shape_0': '26x26x32'}", "The answer is not valid JSON: Expecting property name"),
        ('["26x26x32", "7x7x8"]', "The answer is a list, not a JSON object."),
    ],
)
def test_a_learners_format_mistake_says_how_to_fix_the_answer(xqueue, response, why):
    """These said "Please tell your instructor if this persists.": the learner can fix them."""
    problem = kinds.generate("output_shape", 1, 3)
    submission = xqueue.submit(response, PAYLOAD)
    assert _run(xqueue) == 0
    reply = xqueue.replies[submission]
    msg = _check_msg(reply)
    assert reply["score"] == 0 and reply["correct"] is False
    assert why.replace("'", "&#x27;") in msg
    assert "instructor" not in msg
    assert "JSON object of part id to answer" in msg and "Fix your answer and submit again" in msg
    for part in problem.parts:  # each part id named with what it asks
        assert f"<code>{part.id}</code>: " in msg


@pytest.mark.parametrize(
    ("payload", "secret"),
    [
        ("{kind: output_shape", SECRET),
        ({"kind": "nope", "difficulty": 1}, SECRET),
        ({"kind": "output_shape"}, SECRET),
        ({"kind": "output_shape", "difficulty": 1, "seed": 3, "points": -1}, SECRET),
        ({"kind": "output_shape", "difficulty": 1}, None),  # no seed, no secret
    ],
)
def test_a_setup_error_asks_the_learner_to_tell_the_instructor(payload, secret):
    body = json.dumps(
        {"student_info": json.dumps({"anonymous_student_id": "x"}),
         "student_response": "26x26x32",
         "grader_payload": payload if isinstance(payload, str) else json.dumps(payload)}
    )
    reply = grade_submission(body, secret).to_json()
    msg = _check_msg(reply)
    assert reply["score"] == 0
    assert "not with your answer: please tell your instructor" in msg
    assert "Fix your answer" not in msg


def test_without_points_the_score_is_out_of_one_as_capas_textbox_is(xqueue):
    """capa's maximum for a CodeResponse is its <textbox points="..."> (1 when absent); the
    score was out of the problem's own points (4 for this one), so a quarter right came back
    as 1: full marks, cut to the textbox's 1 point on older platforms."""
    problem = kinds.generate("output_shape", 2, 3)
    assert problem.max_points == len(problem.parts) == 4
    right = _correct(problem)
    one_right = {k: (v if i == 0 else "1x1x1") for i, (k, v) in enumerate(right.items())}
    payload = {"kind": "output_shape", "difficulty": 2, "seed": 3}
    full = xqueue.submit(json.dumps(right), payload)
    quarter = xqueue.submit(json.dumps(one_right), payload)
    scaled = xqueue.submit(json.dumps(one_right), {**payload, "points": 8})
    assert _run(xqueue) == 0
    assert xqueue.replies[full]["score"] == 1 and xqueue.replies[full]["correct"] is True
    assert xqueue.replies[quarter]["score"] == pytest.approx(0.25)
    assert xqueue.replies[scaled]["score"] == pytest.approx(2)
    assert "Score: 0.25 / 1" in _check_msg(xqueue.replies[quarter])
