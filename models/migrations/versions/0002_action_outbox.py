"""action outbox: labelled posts whose acting hooks have not all run

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import models.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actionoutbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column(
            "post_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("actionoutbox", schema=None) as batch_op:
        batch_op.create_index("ix_actionoutbox_due", ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_actionoutbox_city_id"), ["city_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("actionoutbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actionoutbox_city_id"))
        batch_op.drop_index("ix_actionoutbox_due")
    op.drop_table("actionoutbox")
