"""LTI 1.3 tables: registered platforms and their deployments, the tool's own keys, login
states and used nonces, new-window tickets, dynamic-registration links, the LMS contexts,
users and resource links mapped onto ours, pending deep-linking requests, cached service
tokens, and the grade-passback outbox.

Imported at the end of grader.models so that Alembic sees these tables.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.models import Base, Course, ProblemSet, User, new_public_id, utcnow


def token_digest(token: str) -> str:
    """How a single-use token (deep-linking, new-window ticket, registration link) is
    stored: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LtiPlatform(Base):
    """An LMS registration: what the platform told us (issuer, client id, its endpoints).

    `owner` is the instructor who registered it (they alone edit it). `course`, when set,
    receives every new LMS course of this platform; otherwise a course is created per LMS
    context on the first instructor launch."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(255))
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(Text)  # the platform's OIDC authorization URL
    token_url: Mapped[str] = mapped_column(Text)
    key_set_url: Mapped[str] = mapped_column(Text)
    token_audience: Mapped[str | None] = mapped_column(Text)  # default: the token URL
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[LtiDeployment]] = relationship(
        back_populates="platform", order_by="LtiDeployment.id", cascade="all, delete-orphan"
    )
    owner: Mapped[User | None] = relationship()
    course: Mapped[Course | None] = relationship()

    @property
    def deployment_ids(self) -> list[str]:
        return [d.deployment_id for d in self.deployments]


class LtiDeployment(Base):
    """A deployment id the platform may launch us with (one per install of the tool)."""

    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")


class LtiKey(Base):
    """One of the tool's RSA key pairs. The newest active key signs; retired keys stay
    published in our JWKS until dropped, so tokens signed just before a rotation verify."""

    __tablename__ = "lti_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)  # RFC 7638 thumbprint
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()


class LtiState(Base):
    """A login in progress: `state` and `nonce` sent to the platform, used once, briefly."""

    __tablename__ = "lti_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    target_link_uri: Mapped[str] = mapped_column(Text, default="")
    # The platform frame that keeps state and nonce (lti_storage_target of the login), when
    # the platform offered LTI client-side postMessage storage; the launch then checks the
    # browser there when our state cookie did not come back.
    storage_target: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LtiNonce(Base):
    """A nonce seen in a launch: the unique constraint refuses its second use."""

    __tablename__ = "lti_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LtiContext(Base):
    """An LMS course (context) and the course of ours it maps to; `memberships_url`: its
    roster service (Names and Role Provisioning Services 2.0) from the latest launch that
    named one, for importing the LMS roster."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    context_id: Mapped[str] = mapped_column(String(255))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    memberships_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship()
    course: Mapped[Course] = relationship()


class LtiUser(Base):
    """A platform user (`sub`) and our user for them; `sub`, never the email, is the key."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    sub: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship()
    user: Mapped[User] = relationship()


class LtiResourceLink(Base):
    """A placement of the tool in an LMS course: which problem set it opens, and the grade
    service endpoint (AGS) from its most recent launch."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("platform_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    context_id: Mapped[int] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True
    )
    resource_link_id: Mapped[str] = mapped_column(String(255))
    problem_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("problem_sets.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(255), default="")
    # From the AGS endpoint claim of the latest launch that carried one.
    lineitems_url: Mapped[str | None] = mapped_column(Text)
    lineitem_url: Mapped[str | None] = mapped_column(Text)
    ags_scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The line item we found or created when the launch named none.
    resolved_lineitem_url: Mapped[str | None] = mapped_column(Text)
    lineitem_lock_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship()
    context: Mapped[LtiContext] = relationship()
    problem_set: Mapped[ProblemSet | None] = relationship()

    @property
    def line_item(self) -> str | None:
        """The line item scores go to: the launch's own, else the one we resolved."""
        return self.lineitem_url or self.resolved_lineitem_url


class LtiLinkUser(Base):
    """A user has launched this resource link: their grades on its set go back to it."""

    __tablename__ = "lti_link_users"
    __table_args__ = (UniqueConstraint("resource_link_id", "lti_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(
        ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True
    )
    lti_user_id: Mapped[int] = mapped_column(
        ForeignKey("lti_users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    first_launch_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiDeepLink(Base):
    """A deep-linking request waiting for the instructor's choice. Only the SHA-256 of its
    token is stored; the token rides in the picker's form (the LMS frame may have no
    session cookie)."""

    __tablename__ = "lti_deep_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    return_url: Mapped[str] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)
    accept_lineitem: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()

    platform: Mapped[LtiPlatform] = relationship()
    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()


class LtiWindowTicket(Base):
    """After a launch in an LMS frame whose browser would not keep our session cookie: a
    single-use, short-lived ticket (only its SHA-256 here) that signs the same user in, in
    a window of their own, and opens `target`."""

    __tablename__ = "lti_window_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class LtiRegistrationLink(Base):
    """A link an instructor gives an LMS for LTI Dynamic Registration: single use, short
    lived, only its SHA-256 here. The platform it registers is the instructor's (and sends
    its new courses into `course`, when set), as if registered on the form."""

    __tablename__ = "lti_registration_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()  # while registering, and after
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="SET NULL"), index=True
    )

    owner: Mapped[User] = relationship()
    course: Mapped[Course | None] = relationship()


class LtiAccessToken(Base):
    """A platform's service access token for one set of scopes, kept until it expires."""

    __tablename__ = "lti_access_tokens"
    __table_args__ = (UniqueConstraint("platform_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(512))
    token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column()


class LtiScore(Base):
    """The passback outbox: one score version for one (user, resource link).

    Written in the submission's transaction; delivered by the worker (and a best-effort
    attempt right after the commit). `timestamp` is fixed here, so every retry resends the
    same score with the same timestamp. status: pending, sent, failed (stopped retrying,
    see last_error), superseded (a newer version for the same user and link replaced it)."""

    __tablename__ = "lti_scores"
    __table_args__ = (Index("ix_lti_scores_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    resource_link_id: Mapped[int] = mapped_column(
        ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True
    )
    lti_user_id: Mapped[int] = mapped_column(
        ForeignKey("lti_users.id", ondelete="CASCADE"), index=True
    )
    problem_set_id: Mapped[int] = mapped_column(
        ForeignKey("problem_sets.id", ondelete="CASCADE"), index=True
    )
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(String(16), default="submit")  # or "resend"
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    activity_progress: Mapped[str] = mapped_column(String(16))
    grading_progress: Mapped[str] = mapped_column(String(16), default="FullyGraded")
    timestamp: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resource_link: Mapped[LtiResourceLink] = relationship()
    lti_user: Mapped[LtiUser] = relationship()
    problem_set: Mapped[ProblemSet] = relationship()
