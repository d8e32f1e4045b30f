"""Benchmark: the API's grading endpoint against a hello-world endpoint of the same app, on
the same gunicorn server, with SQLite and then PostgreSQL.

Run: .venv/bin/python bench/grading.py [--duration 10] [--connections 64] [--workers 4]
     [--worker-class sync|gthread] [--threads 1] [--engines sqlite,postgresql]

Each engine gets a fresh, migrated database (SQLite in a temporary folder; PostgreSQL: a new
database on TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test, dropped after),
a course, an API key and 256 problems of every kind. gunicorn serves wsgi:app on 127.0.0.1;
a bounded load generator (wrk, with a Lua script for the POST bodies, else a small Python
client) keeps --connections connections busy for --duration seconds per case:

  hello    GET  /api/v1/ping: routing and the app's middleware, no auth, no database
  grading  POST /api/v1/problems/{id}/grade: auth (the key's secret), rate limit, strict
           JSON + pydantic, pure grading, then the durable INSERT ... ON CONFLICT that also
           checks the key's revocation (one per request: each request has its own
           Idempotency-Key); half the answer sets right, half wrong

Targets: grading throughput at least 50% of hello's, and grading p99 under 50 ms at 64
connections. Every grading response must be a 201 and every one must be in the database.
The load generator runs on the same machine and takes CPU from the server: the figures
are ratios of two runs under the same handicap, not the server's capacity.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0
PROBLEMS = 256
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses and socket errors
    server_cpu: float = 0.0  # CPU seconds the gunicorn processes used meanwhile
    services_cpu: float = 0.0  # and Redis and PostgreSQL
    client_cpu: float = 0.0  # and the load generator

    def cpu_us(self, seconds: float) -> float:
        """`seconds` of CPU per request, in microseconds."""
        return 1e6 * seconds / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- databases


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'bench.sqlite3'}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards."""
    from sqlalchemy import create_engine, text

    base = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    name = f"cnnquiz_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", base, count=1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str) -> tuple[str, list[tuple[str, str]]]:
    """Migrate `url`, then make a course, an API key and the problems; the key and the
    (path, body) of every grading request to cycle through (half right, half wrong)."""
    from alembic import command

    from grader import create_app
    from grader.api.grading import create_problem, variant
    from grader.api.schemas import ProblemRequest
    from grader.cli import alembic_config
    from grader.services import api_keys, courses
    from problems import kinds

    config = alembic_config(url)
    config.attributes["skip_logging"] = True  # no migration chatter in the report
    command.upgrade(config, "head")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "ARGON2_TIME_COST": 1,
                      "ARGON2_MEMORY_COST": 1024})
    requests_: list[tuple[str, str]] = []
    with app.app_context():
        teacher = courses.create_user("bench@example.edu", "Bench", "bench password 1",
                                      is_instructor=True)
        course = courses.create_course("BENCH", "Benchmark course", teacher)
        token = api_keys.create_key(course, "bench").token
        caller = api_keys.authenticate(token)
        names = list(kinds.KINDS)
        for i in range(PROBLEMS):
            made = create_problem(caller, ProblemRequest(
                kind=names[i % len(names)], difficulty=1 + i % 3, seed=10_000 + i,
                student=f"student-{i}"))
            problem = variant(names[i % len(names)], 1 + i % 3, 10_000 + i)
            test = kinds.self_test(problem)
            if i % 2 == 0:
                answers = dict(test.correct)
            else:
                first = problem.parts[0].id
                answers = dict(test.wrong[first])
            requests_.append((f"/api/v1/problems/{made['id']}/grade",
                              json.dumps({"answers": answers})))
    app.extensions["engine"].dispose()  # and the API's engine with it
    return token, requests_


def recorded_grades(url: str) -> int:
    from sqlalchemy import func, select

    from grader.api.models import ApiGrade
    from grader.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ApiGrade)).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(url: str, folder: Path, args: argparse.Namespace) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench",
           "GRADER_INSTANCE": str(folder), "API_RATE_LIMIT": "100000000 per minute",
           "PYTHONPATH": str(ROOT)}
    if args.storage.startswith("redis"):
        env["REDIS_URL"] = args.storage  # rate limits shared by the workers, as in production
    else:
        env.pop("REDIS_URL", None)  # rate limits counted in each worker's memory
    command = [str(Path(sys.executable).parent / "gunicorn"), "wsgi:app",
               "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--worker-class", args.worker_class, "--threads", str(args.threads),
               "--backlog", "2048", "--log-level", "warning", "--chdir", str(ROOT)]
    log = open(folder / f"gunicorn-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/ping")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {log.name}")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------- load: wrk


LUA = """
local requests = %(requests)s
local key = "%(key)s"
local run = "%(run)s"
local counter = 0
local next_thread = 0
local texts = {}  -- each request's text around its Idempotency-Key, formatted once
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  for i, r in ipairs(requests) do
    local text = wrk.format("POST", r[1], {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = "@KEY@",
    }, r[2])
    local at = string.find(text, "@KEY@", 1, true)
    texts[i] = {string.sub(text, 1, at - 1), string.sub(text, at + 5)}
  end
end
function request()
  counter = counter + 1
  local t = texts[(counter %% #texts) + 1]
  return t[1] .. run .. "-" .. tid .. "-" .. counter .. t[2]
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, connections: int, seconds: float, script: Path | None) -> Result:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    before = children_cpu()
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    client = children_cpu() - before
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m|ms)", out)
    assert total, out
    seconds_taken = _ms(total.group(2) + total.group(3)) / 1000
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), "
                    r"read (\d+), write (\d+), timeout (\d+)"):
        match = re.search(pattern, out)
        if match:
            errors += sum(int(g) for g in match.groups())
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    return Result(int(total.group(1)), seconds_taken, p50, p99, errors, client_cpu=client)


# ---------------------------------------------------------------- load: Python fallback


def python_load(port: int, connections: int, seconds: float,
                make_request) -> Result:  # type: ignore[no-untyped-def]
    """Keep-alive connections from threads (slower than wrk, and it takes more CPU)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        i = 0
        while time.monotonic() < stop:
            method, path, body, headers = make_request(n, i)
            i += 1
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 300
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = HTTPConnection("127.0.0.1", port, timeout=10)
            except OSError:
                ok = False
                conn.close()
                conn = HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    latencies.sort()
    if not latencies:
        return Result(0, took, 0.0, 0.0, errors[0])
    return Result(len(latencies), took, 1000 * latencies[len(latencies) // 2],
                  1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                  errors[0])


# ---------------------------------------------------------------- one engine


def combine(rounds: list[Result]) -> Result:
    """Rounds of one case as one: summed requests and time; the median round's p50 and p99."""
    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    return Result(sum(r.requests for r in rounds), sum(r.seconds for r in rounds),
                  median([r.p50_ms for r in rounds]), median([r.p99_ms for r in rounds]),
                  sum(r.errors for r in rounds), sum(r.server_cpu for r in rounds),
                  sum(r.services_cpu for r in rounds), sum(r.client_cpu for r in rounds))


# ---------------------------------------------------------------- CPU used


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes `pids` (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not Linux
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system CPU seconds used so far by this process's finished children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pids(*command: str) -> list[int]:
    found = subprocess.run(["pgrep", *command], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def run_engine(name: str, url: str, folder: Path, args: argparse.Namespace) -> dict[str, object]:
    token, grade_requests = prepare(url)
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    table = "{" + ",".join(
        "{" + _lua_string(p) + "," + _lua_string(b) + "}" for p, b in grade_requests) + "}"
    rounds = max(1, round(args.duration / args.slice))
    with gunicorn(url, folder, args) as (port, master):
        server = [master, *pids("-P", str(master))]  # the master and its workers
        base = f"http://127.0.0.1:{port}"
        cases: dict[str, list[Result]] = {"hello": [], "grading": []}
        graded = 0  # grading requests answered, warm-up included

        def measure(case: str, seconds: float, run: str) -> Result:
            services = pids("-x", "redis-server") + (pids("-f", "^postgres: ")
                                                     if name == "postgresql" else [])
            before = cpu_seconds(server), cpu_seconds(services)
            result = load(case, seconds, run)
            result.server_cpu = cpu_seconds(server) - before[0]
            result.services_cpu = cpu_seconds(services) - before[1]
            return result

        def load(case: str, seconds: float, run: str) -> Result:
            if use_wrk:
                if case == "hello":
                    return wrk(f"{base}/api/v1/ping", args.connections, seconds, None)
                script = folder / f"grade-{run}.lua"
                script.write_text(LUA % {"requests": table, "key": token, "run": run})
                return wrk(base, args.connections, seconds, script)

            def hello_request(n: int, i: int):  # type: ignore[no-untyped-def]
                return "GET", "/api/v1/ping", None, {}

            def grade_request(n: int, i: int):  # type: ignore[no-untyped-def]
                path, body = grade_requests[(n * 7919 + i) % len(grade_requests)]
                return "POST", path, body, {
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                    "Idempotency-Key": f"{run}-{n}-{i}"}

            return python_load(port, args.connections, seconds,
                               hello_request if case == "hello" else grade_request)

        # Warm-up (caches, pools, the page cache), then rounds that take turns, so that
        # other load on the machine weighs on both cases alike.
        measure("hello", args.warmup, "warm")
        graded += measure("grading", args.warmup, f"warm-{uuid.uuid4().hex[:8]}").requests
        for n in range(rounds):
            for case in ("hello", "grading") if n % 2 == 0 else ("grading", "hello"):
                result = measure(case, args.slice, f"r{n}-{uuid.uuid4().hex[:8]}")
                cases[case].append(result)
                if case == "grading":
                    graded += result.requests
    return {"engine": name, "results": {k: combine(v) for k, v in cases.items()},
            "rounds": rounds, "rows": recorded_grades(url), "graded": graded,
            "client": "wrk" if use_wrk else "python"}


# ---------------------------------------------------------------- where the time goes


PROFILE_PARTS = (  # label, (file suffix, function name) whose cumulative time it is
    ("rate limit (the API's, on Flask-Limiter's storage)", ("grader/api/limits.py", "check_rate_limit")),
    ("  of which the key check (auth)", ("grader/services/api_keys.py", "authenticate")),
    ("  of which the lease or count in the storage", ("grader/api/limits.py", "admit")),
    ("app-wide Flask-Limiter hook (skips the API)", ("flask_limiter/_extension.py", "_check_request_limit")),
    ("body: strict JSON + pydantic", ("grader/api/routes.py", "read_body")),
    ("grading service (reads, grade, insert)", ("grader/api/grading.py", "grade")),
    ("  of which grading proper (pure)", ("problems/kinds/__init__.py", "grade")),
    ("  of which the recording INSERT", ("grader/api/connection.py", "first_prepared")),
)


def profile(url: str, storage: str, count: int = 2000) -> None:
    """Grading requests in this process under cProfile, against the hello endpoint: where
    the time of a grading request goes (the profiler slows both; read the shares)."""
    import cProfile
    import pstats

    from grader import create_app

    token, grade_requests = prepare(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_STORAGE_URI":
                      storage, "API_RATE_LIMIT": "100000000 per minute"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def grade(i: int) -> None:
        path, body = grade_requests[i % len(grade_requests)]
        response = client.post(path, data=body, headers={**auth, "Idempotency-Key": f"p{i}"})
        assert response.status_code == 201, response.data

    for i in range(len(grade_requests)):  # warm: every problem generated once
        grade(i)
    timings = {}
    for label, call in (("hello", lambda i: client.get("/api/v1/ping")),
                        ("grading", lambda i: grade(count + i))):
        start = time.perf_counter()
        for i in range(count):
            call(i)
        timings[label] = (time.perf_counter() - start) / count * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(count):
        grade(2 * count + i)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(t for (_, _, _, t, _) in
                (v for k, v in stats.items() if k[2] == "open" and "flask/testing" in k[0]))

    def cumulative(where: tuple[str, str]) -> float:
        return sum(v[3] for k, v in stats.items()
                   if k[0].endswith(where[0]) and k[2] == where[1])

    print(f"\nprofile ({url.split(':')[0]}, {count} requests, in-process test client): "
          f"hello {timings['hello']:.0f} us, grading {timings['grading']:.0f} us per request "
          "without the profiler; shares of a grading request under it:")
    for label, where in PROFILE_PARTS:
        print(f"  {label:<42} {100 * cumulative(where) / total:5.1f}%")
    app.extensions["engine"].dispose()  # and the API's engine with it


def rate_limit_storage(choice: str) -> str:
    """Where the server counts rate limits: production uses Redis (REDIS_URL)."""
    if choice != "auto":
        return choice
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return "redis://127.0.0.1:6379/15"
    except OSError:
        pass
    return "memory://"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case (max 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per case")
    parser.add_argument("--slice", type=float, default=2.0,
                        help="seconds per round; the cases take turns round by round")
    parser.add_argument("--rate-limit-storage", default="auto",
                        help="auto (REDIS_URL, else a local Redis if one answers, else "
                        "memory://), memory://, or a redis:// URL")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true",
                        help="also profile grading requests in-process (SQLite)")
    parser.add_argument("--python-client", action="store_true",
                        help="use the Python load generator even when wrk is installed")
    args = parser.parse_args()
    args.duration = min(args.duration, 20.0)
    args.storage = rate_limit_storage(args.rate_limit_storage)

    print(f"bench/grading.py: gunicorn {args.workers} x {args.worker_class}"
          f"{f' ({args.threads} threads)' if args.worker_class == 'gthread' else ''} workers, "
          f"{args.connections} connections, {args.duration:.0f} s per case, "
          f"{os.cpu_count()} CPUs; rate limits in {args.storage}")
    if shutil.which("wrk") is None and not args.python_client:
        print("note: wrk not found (apt-get install -y wrk): using the slower Python client")
    print("note: the load generator runs on this machine and takes CPU from the server "
          "(one wrk thread); compare the ratio, not the absolute requests per second.")
    failed = False
    for engine in [e for e in args.engines.split(",") if e]:
        if engine not in ("sqlite", "postgresql"):
            parser.error(f"--engines: unknown engine {engine!r} (sqlite, postgresql)")
        with tempfile.TemporaryDirectory(prefix="cnnquiz-bench-") as tmp:
            folder = Path(tmp)
            try:
                database = (sqlite_database(folder) if engine == "sqlite"
                            else postgres_database())
                with database as url:
                    report = run_engine(engine, url, folder, args)
            except Exception as err:  # noqa: BLE001 - report and go on to the next engine
                print(f"\n[{engine}] SKIPPED: {type(err).__name__}: {err}")
                failed = True
                continue
        failed |= not show(report, args)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="cnnquiz-profile-") as tmp:
            profile(f"sqlite:///{Path(tmp) / 'profile.sqlite3'}", args.storage)
    return 1 if failed else 0


def show(report: dict[str, object], args: argparse.Namespace) -> bool:
    results = report["results"]
    assert isinstance(results, dict)
    hello, grading = results["hello"], results["grading"]
    ratio = grading.rps / hello.rps if hello.rps else 0.0
    ok_ratio = ratio >= RATIO_TARGET
    ok_p99 = grading.p99_ms < P99_TARGET_MS
    rows, graded = report["rows"], report["graded"]
    assert isinstance(rows, int) and isinstance(graded, int)
    # Every answered request is recorded; requests still in flight when the client stopped
    # may be recorded without being counted as answered (at most one per connection and run).
    runs = 1 + int(report["rounds"])  # type: ignore[call-overload]
    ok_rows = graded <= rows <= graded + runs * args.connections
    ok_errors = grading.errors == 0 and hello.errors == 0 and ok_rows
    print(f"\n[{report['engine']}] client: {report['client']}; {report['rounds']} rounds per case, "
          "taking turns (p50, p99: the median round's)")
    print(f"  {'case':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}"
          f" {'CPU/req: gunicorn':>18} {'Redis+DB':>9} {'client':>7}")
    for label, r in (("hello", hello), ("grading", grading)):
        print(f"  {label:<8} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.requests:>9} "
              f"{r.errors:>7} {r.cpu_us(r.server_cpu):>15.0f} us {r.cpu_us(r.services_cpu):>6.0f} us"
              f" {r.cpu_us(r.client_cpu):>4.0f} us")
    cpu_ratio = (hello.cpu_us(hello.server_cpu + hello.services_cpu)
                 / max(1e-9, grading.cpu_us(grading.server_cpu + grading.services_cpu)))
    print(f"  CPU per request, hello/grading (what the ratio would be with the CPU to "
          f"ourselves): {cpu_ratio:.2f}")
    print(f"  grading/hello throughput: {ratio:.2f} (target >= {RATIO_TARGET:.2f}) "
          f"{'PASS' if ok_ratio else 'FAIL'}")
    print(f"  grading p99: {grading.p99_ms:.1f} ms (target < {P99_TARGET_MS:.0f} ms at "
          f"{args.connections} connections) {'PASS' if ok_p99 else 'FAIL'}")
    print(f"  grades recorded: {rows} for {graded} answered grading requests (warm-up "
          f"included); errors: {grading.errors + hello.errors} {'PASS' if ok_errors else 'FAIL'}")
    return ok_ratio and ok_p99 and ok_errors


if __name__ == "__main__":
    sys.exit(main())
