"""/login, /logout and /account/password, plus the session checks behind `current_user`."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from grader import db
from grader.auth import bp
from grader.auth.access import local_path, record_audit
from grader.extensions import limiter, login_manager
from grader.models import User
from grader.passwords import hash_password, needs_rehash, password_problem, verify_password

EPOCH_KEY = "session_epoch"
# This session's own id: "Log out" signs out this one (users.signed_out_sessions).
SESSION_ID_KEY = "sid"
# Set in a session started by signing in with a password (not by an LTI launch).
PASSWORD_SIGN_IN = "password_sign_in"
# Where a user who must first choose their own password was going when they signed in.
AFTER_OWN_PASSWORD = "after_own_password"
OWN_PASSWORD_FIRST = ("Your password was set for you (by your instructor or an administrator), "
                      "so they know it: choose your own to continue.")
LOGIN_FAILED = "Email or password is not right. Check both and try again."
CSRF_MESSAGE = "The form expired or was sent from elsewhere; reload and try again."
SESSION_ENDED = ("You were signed out before this was sent (in another tab, or your session "
                 "expired): sign in again to go on.")

login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


# ---------------------------------------------------------------- sessions


@login_manager.user_loader
def _load_user(public_id: str) -> User | None:
    """The signed-in user, unless this cookie predates their last logout or password change."""
    user = db.session().scalar(select(User).where(User.public_id == public_id))
    if user is None or session.get(EPOCH_KEY) != user.session_epoch:
        return None
    sid = session.get(SESSION_ID_KEY)
    if sid and f" {sid}@" in user.signed_out_sessions:
        return None
    return user


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if _wants_json():
        body = {"error": {"path": "", "message": "Your session has ended; sign in again.", "status": 401}}
        return jsonify(body), 401
    flash(login_manager.login_message, login_manager.login_message_category)
    target = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return redirect(url_for("auth.login", next=target))


def start_session(user: User, *, by_password: bool = False) -> None:
    """A fresh session for `user`: nothing from the previous cookie survives (no fixation).
    `by_password`: opened with the user's password (not by an LTI launch)."""
    session.clear()
    login_user(user)
    session[EPOCH_KEY] = user.session_epoch
    session[SESSION_ID_KEY] = secrets.token_urlsafe(12)
    if by_password:
        session[PASSWORD_SIGN_IN] = True


# What a user who must choose their own password can still open.
_BEFORE_OWN_PASSWORD = frozenset({"auth.change_password", "auth.logout", "auth.login", "static"})


@bp.before_app_request
def _own_password_first() -> Any:
    """A user signed in with a password someone else chose (`must_change_password`) is sent
    to choose their own before any other page (JSON requests get a 403 saying so). The API
    (key auth) and LTI launches (no password) are not concerned."""
    if request.blueprint in ("api", "lti") or request.endpoint in _BEFORE_OWN_PASSWORD:
        return None
    if (request.endpoint or "").endswith(".static") or not session.get(PASSWORD_SIGN_IN):
        return None
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    if _wants_json():
        body = {"error": {"path": "password", "message": OWN_PASSWORD_FIRST, "status": 403}}
        return jsonify(body), 403
    return redirect(url_for("auth.change_password"))


def home_for(user: Any) -> str:
    """Where a signed-in user lands: the instructor's courses or the student's sets."""
    return "/teach/" if getattr(user, "is_instructor", False) else "/"


def _safe_next(target: str | None) -> str | None:
    """A local path to return to after login, or None (never another host)."""
    if not target:
        return None
    target = target.strip()
    return target if local_path(target) else None


def _wants_json() -> bool:
    return (request.path.startswith("/api/") or request.is_json
            or request.accept_mimetypes.best == "application/json")


# ---------------------------------------------------------------- rate limits


def _login_failed(_response: Response) -> bool:
    # Only failed attempts count: a class behind one NAT address can all sign in at 9:00.
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "login-account:" + request.form.get("email", "").strip().lower()[:255]


def _password_key() -> str:
    return "password-change:" + (current_user.get_id() if current_user.is_authenticated else "")


# ---------------------------------------------------------------- views


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"],
               deduct_when=_login_failed)
@limiter.limit(lambda: current_app.config.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per 5 minutes"),
               key_func=_account_key, methods=["POST"], deduct_when=_login_failed)
def login() -> Any:
    """The sign-in form; on success a new session and a redirect to the user's home."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or home_for(current_user))
        return render_template("auth/login.html", email="", next_url=next_url)

    email = request.form.get("email", "").strip().lower()
    password = request.form.get("password", "")
    # A field left empty is no attempt: said beside the field, neither throttled nor audited.
    missing = {name: message for name, value, message in (
        ("email", email, "Enter your email."), ("password", password, "Enter your password."),
    ) if not value}
    if missing:
        return render_template("auth/login.html", email=email, next_url=next_url,
                               errors=missing), 422
    user = db.session().scalar(select(User).where(User.email == email)) if email else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        g.login_failed = True
        record_audit("login_failed", f"email={email[:255]!r} ip={request.remote_addr}",
                     user.id if user else None)
        return render_template("auth/login.html", email=email, next_url=next_url,
                               error=LOGIN_FAILED), 401

    if user.password_hash and needs_rehash(user.password_hash):
        with db.transaction():
            user.password_hash = hash_password(password)
    start_session(user, by_password=True)
    if user.must_change_password:
        if next_url:
            session[AFTER_OWN_PASSWORD] = next_url
        return redirect(url_for("auth.change_password"))
    return redirect(next_url or home_for(user))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """POST signs this browser's session out (a copy of its cookie no longer works either);
    with `everywhere`, every session of the user (the epoch moves on). GET offers both."""
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html")
    everywhere = request.form.get("everywhere") == "1"
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        sid = session.get(SESSION_ID_KEY)
        if everywhere or not sid:  # a cookie from before session ids: only the epoch ends it
            with db.transaction():
                user.session_epoch = user.session_epoch + 1
                user.signed_out_sessions = ""  # the epoch covers them all
        else:
            _sign_out_session(user, sid)
    logout_user()
    session.clear()
    flash("You are signed out on every device." if everywhere else "You are signed out.",
          "success")
    return redirect(url_for("auth.login"))


def _sign_out_session(user: User, sid: str) -> None:
    """Add session `sid` to the user's signed-out sessions, dropping those too old to be
    signed in anyway (a session cookie is refused once older than
    PERMANENT_SESSION_LIFETIME). Two sign-outs at once both count: the list is replaced
    only if unchanged since it was read, else the entry is appended in one statement."""
    now = int(time.time())
    oldest = now - int(current_app.permanent_session_lifetime.total_seconds()) - 3600
    current = user.signed_out_sessions
    kept = "".join(f" {entry}" for entry in current.split()
                   if int(entry.rpartition("@")[2] or 0) >= oldest)
    entry = f" {sid}@{now}"
    with db.transaction() as s:
        replaced = s.execute(
            update(User).where(User.id == user.id, User.signed_out_sessions == current)
            .values(signed_out_sessions=kept + entry).execution_options(synchronize_session=False)
        ).rowcount
        if not replaced:
            s.execute(update(User).where(User.id == user.id).values(
                signed_out_sessions=User.signed_out_sessions + entry,
            ).execution_options(synchronize_session=False))


def _password_page(errors: dict[str, str]) -> str:
    return render_template("auth/password.html", errors=errors,
                           own_password_first=OWN_PASSWORD_FIRST)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per hour", key_func=_password_key, methods=["POST"], deduct_when=_login_failed)
def change_password() -> Any:
    """Change one's own password; every other session of this user is signed out."""
    if request.method == "GET":
        return _password_page({})
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    confirm = request.form.get("confirm_password", "")
    errors: dict[str, str] = {}
    if not current:  # no attempt: not counted against the limit
        errors["current_password"] = "Enter your current password."
    elif not verify_password(current_user.password_hash, current):
        errors["current_password"] = "This is not your current password."
        g.login_failed = True
    problem = password_problem(new)
    if not new:
        errors["new_password"] = "Enter a new password."
    elif problem:
        errors["new_password"] = f"The new password {problem}."
    elif new == current:
        errors["new_password"] = "The new password must differ from the current one."
    if not errors.get("new_password") and new != confirm:
        errors["confirm_password"] = "The two new passwords are not the same."
    if errors:
        return _password_page(errors), 422

    user = current_user._get_current_object()
    then = _safe_next(session.get(AFTER_OWN_PASSWORD)) if user.must_change_password else None
    with db.transaction():
        user.password_hash = hash_password(new)
        user.session_epoch = user.session_epoch + 1
        user.signed_out_sessions = ""  # the epoch covers them all
        user.must_change_password = False
    record_audit("password_changed", "", user.id)
    start_session(user, by_password=True)
    flash("Your password is changed. Any other sessions you had are signed out.", "success")
    return redirect(then or home_for(user))


# ---------------------------------------------------------------- errors


@bp.app_errorhandler(CSRFError)
def _csrf_error(err: CSRFError) -> Any:
    if not current_user.is_authenticated and request.endpoint != "auth.login":
        # The session ended (signed out in another tab, or expired) before the form was
        # sent, and its token went with it: not a form "from elsewhere", and reloading would
        # send it again. Sign in, then back to the page the form was on (an item's typed
        # answers are kept in the tab by autosave.js and come back there).
        if _wants_json():
            body = {"error": {"path": "", "message": SESSION_ENDED, "status": 401}}
            return jsonify(body), 401
        flash(SESSION_ENDED, "warning")
        return redirect(url_for("auth.login", next=_page_of_the_form()))
    if _wants_json():
        return jsonify({"error": {"path": "csrf_token", "message": CSRF_MESSAGE, "status": 400}}), 400
    return render_template("error.html", error=err, message=CSRF_MESSAGE), 400


def _page_of_the_form() -> str:
    """The page a refused POST came from: its Referer, if a page of this site; else the
    POST's own path when it is also a page (an item's), else the start page."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc == request.host:
        page = parts.path + (f"?{parts.query}" if parts.query else "")
        if local_path(page):
            return page
    if request.method == "GET" or request.endpoint == "student.submit":
        return request.path
    return "/"


@bp.app_errorhandler(RateLimitExceeded)
def _rate_limited(err: RateLimitExceeded) -> Any:
    retry_after = 60
    limit = limiter.current_limit
    if limit is not None:
        retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    minutes = math.ceil(retry_after / 60)
    wait = f"{retry_after} seconds" if retry_after < 120 else f"{minutes} minutes"
    if request.endpoint == "auth.login":
        message = f"Too many failed sign-in attempts. Wait {wait} and try again."
    else:
        message = f"Too many requests. Wait {wait} and try again."
    if _wants_json():
        response = jsonify({"error": {"path": "", "message": message, "status": 429}})
    else:
        response = current_app.make_response(render_template("error.html", error=err, message=message))
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response
