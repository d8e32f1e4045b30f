"""LTI 1.3: registered platforms and deployments, the tool's keys, login states and used
nonces, LMS contexts, users and resource links mapped onto ours, pending deep-linking
requests, cached service tokens, and the grade-passback outbox (lti_scores).

Generated from grader.lti.models with `alembic revision --autogenerate` and reviewed by
hand: constraint names follow grader.models.NAMING_CONVENTION; parents first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lti_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("retired_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_lti_keys_kid")),
    )
    op.create_table(
        "lti_platforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("auth_login_url", sa.Text(), nullable=False),
        sa.Column("token_url", sa.Text(), nullable=False),
        sa.Column("key_set_url", sa.Text(), nullable=False),
        sa.Column("token_audience", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_lti_platforms_course_id_courses"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_lti_platforms_owner_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_platforms")),
        sa.UniqueConstraint("issuer", "client_id", name=op.f("uq_lti_platforms_issuer_client_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_lti_platforms_public_id")),
    )
    op.create_index(op.f("ix_lti_platforms_course_id"), "lti_platforms", ["course_id"], unique=False)
    op.create_index(op.f("ix_lti_platforms_owner_id"), "lti_platforms", ["owner_id"], unique=False)

    op.create_table(
        "lti_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=512), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_access_tokens_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_access_tokens")),
        sa.UniqueConstraint("platform_id", "scope", name=op.f("uq_lti_access_tokens_platform_id_scope")),
    )
    op.create_table(
        "lti_contexts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_lti_contexts_course_id_courses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_contexts_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_contexts")),
        sa.UniqueConstraint("platform_id", "context_id", name=op.f("uq_lti_contexts_platform_id_context_id")),
    )
    op.create_index(op.f("ix_lti_contexts_course_id"), "lti_contexts", ["course_id"], unique=False)
    op.create_index(op.f("ix_lti_contexts_platform_id"), "lti_contexts", ["platform_id"], unique=False)

    op.create_table(
        "lti_deep_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("accept_lineitem", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_lti_deep_links_course_id_courses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_deep_links_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_lti_deep_links_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_deep_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_lti_deep_links_token_hash")),
    )
    op.create_index(op.f("ix_lti_deep_links_course_id"), "lti_deep_links", ["course_id"], unique=False)
    op.create_index(op.f("ix_lti_deep_links_expires_at"), "lti_deep_links", ["expires_at"], unique=False)
    op.create_index(op.f("ix_lti_deep_links_platform_id"), "lti_deep_links", ["platform_id"], unique=False)
    op.create_index(op.f("ix_lti_deep_links_user_id"), "lti_deep_links", ["user_id"], unique=False)

    op.create_table(
        "lti_deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_deployments_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_deployments")),
        sa.UniqueConstraint("platform_id", "deployment_id", name=op.f("uq_lti_deployments_platform_id_deployment_id")),
    )
    op.create_index(op.f("ix_lti_deployments_platform_id"), "lti_deployments", ["platform_id"], unique=False)

    op.create_table(
        "lti_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("used_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_nonces_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_nonces")),
        sa.UniqueConstraint("nonce", name=op.f("uq_lti_nonces_nonce")),
    )
    op.create_index(op.f("ix_lti_nonces_expires_at"), "lti_nonces", ["expires_at"], unique=False)
    op.create_index(op.f("ix_lti_nonces_platform_id"), "lti_nonces", ["platform_id"], unique=False)

    op.create_table(
        "lti_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("target_link_uri", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_states_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_states")),
        sa.UniqueConstraint("state", name=op.f("uq_lti_states_state")),
    )
    op.create_index(op.f("ix_lti_states_expires_at"), "lti_states", ["expires_at"], unique=False)
    op.create_index(op.f("ix_lti_states_platform_id"), "lti_states", ["platform_id"], unique=False)

    op.create_table(
        "lti_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_launch_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_users_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_lti_users_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_users")),
        sa.UniqueConstraint("platform_id", "sub", name=op.f("uq_lti_users_platform_id_sub")),
    )
    op.create_index(op.f("ix_lti_users_platform_id"), "lti_users", ["platform_id"], unique=False)
    op.create_index(op.f("ix_lti_users_user_id"), "lti_users", ["user_id"], unique=False)

    op.create_table(
        "lti_resource_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("resource_link_id", sa.String(length=255), nullable=False),
        sa.Column("problem_set_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("lineitems_url", sa.Text(), nullable=True),
        sa.Column("lineitem_url", sa.Text(), nullable=True),
        sa.Column("ags_scopes", sa.JSON(), nullable=False),
        sa.Column("resolved_lineitem_url", sa.Text(), nullable=True),
        sa.Column("lineitem_lock_until", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["context_id"], ["lti_contexts.id"], name=op.f("fk_lti_resource_links_context_id_lti_contexts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], name=op.f("fk_lti_resource_links_platform_id_lti_platforms"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["problem_set_id"], ["problem_sets.id"], name=op.f("fk_lti_resource_links_problem_set_id_problem_sets"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_resource_links")),
        sa.UniqueConstraint("platform_id", "resource_link_id", name=op.f("uq_lti_resource_links_platform_id_resource_link_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_lti_resource_links_public_id")),
    )
    op.create_index(op.f("ix_lti_resource_links_context_id"), "lti_resource_links", ["context_id"], unique=False)
    op.create_index(op.f("ix_lti_resource_links_platform_id"), "lti_resource_links", ["platform_id"], unique=False)
    op.create_index(op.f("ix_lti_resource_links_problem_set_id"), "lti_resource_links", ["problem_set_id"], unique=False)

    op.create_table(
        "lti_link_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_link_id", sa.Integer(), nullable=False),
        sa.Column("lti_user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("first_launch_at", TZ, nullable=False),
        sa.Column("last_launch_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["lti_user_id"], ["lti_users.id"], name=op.f("fk_lti_link_users_lti_user_id_lti_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resource_link_id"], ["lti_resource_links.id"], name=op.f("fk_lti_link_users_resource_link_id_lti_resource_links"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_link_users")),
        sa.UniqueConstraint("resource_link_id", "lti_user_id", name=op.f("uq_lti_link_users_resource_link_id_lti_user_id")),
    )
    op.create_index(op.f("ix_lti_link_users_lti_user_id"), "lti_link_users", ["lti_user_id"], unique=False)
    op.create_index(op.f("ix_lti_link_users_resource_link_id"), "lti_link_users", ["resource_link_id"], unique=False)

    op.create_table(
        "lti_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("resource_link_id", sa.Integer(), nullable=False),
        sa.Column("lti_user_id", sa.Integer(), nullable=False),
        sa.Column("problem_set_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=False),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("activity_progress", sa.String(length=16), nullable=False),
        sa.Column("grading_progress", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["lti_user_id"], ["lti_users.id"], name=op.f("fk_lti_scores_lti_user_id_lti_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["problem_set_id"], ["problem_sets.id"], name=op.f("fk_lti_scores_problem_set_id_problem_sets"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resource_link_id"], ["lti_resource_links.id"], name=op.f("fk_lti_scores_resource_link_id_lti_resource_links"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], name=op.f("fk_lti_scores_submission_id_submissions"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_scores")),
        sa.UniqueConstraint("public_id", name=op.f("uq_lti_scores_public_id")),
    )
    op.create_index(op.f("ix_lti_scores_lti_user_id"), "lti_scores", ["lti_user_id"], unique=False)
    op.create_index(op.f("ix_lti_scores_problem_set_id"), "lti_scores", ["problem_set_id"], unique=False)
    op.create_index(op.f("ix_lti_scores_resource_link_id"), "lti_scores", ["resource_link_id"], unique=False)
    op.create_index("ix_lti_scores_status_next_attempt_at", "lti_scores", ["status", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_lti_scores_submission_id"), "lti_scores", ["submission_id"], unique=False)


def downgrade() -> None:
    # Children first. Dropping a table drops its indexes with it.
    for table in ("lti_scores", "lti_link_users", "lti_resource_links", "lti_users",
                  "lti_states", "lti_nonces", "lti_deployments", "lti_deep_links",
                  "lti_contexts", "lti_access_tokens", "lti_platforms", "lti_keys"):
        op.drop_table(table)
