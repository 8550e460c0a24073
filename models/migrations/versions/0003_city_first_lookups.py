"""city-first indexes for lookups within a city: a case's posts, a batch's labels, sent replies,
the outbox's due cases and the duplicate search

SQLite plans without statistics: ``city_id = ? AND case_id IN (...)`` was searched on the city's
own index, reading every post of the city. Indexes on ``(city_id, key)`` replace those on the key
alone (post.case_id, reply.platform_reply_id) and on classification.city_id alone. The cases lose
their index on city_id alone, which SQLite chose for an ``ORDER BY id`` over the due and
duplicate-search indexes, now led by city_id too.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ix_post_case_id")
        batch_op.create_index("ix_post_city_case", ["city_id", "case_id"], unique=False)
    with op.batch_alter_table("classification", schema=None) as batch_op:
        batch_op.drop_index("ix_classification_city_id")
        batch_op.create_index(
            "ix_classification_city_post_task", ["city_id", "post_id", "task"], unique=False
        )
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.drop_index("ix_reply_platform_reply_id")
        batch_op.create_index(
            "ix_reply_city_platform_reply",
            ["city_id", "platform", "platform_reply_id"],
            unique=False,
        )

    with op.batch_alter_table("servicerequest", schema=None) as batch_op:
        batch_op.drop_index("ix_servicerequest_city_id")
        batch_op.drop_index("ix_case_outbox")
        batch_op.create_index("ix_case_outbox", ["city_id", "status"], unique=False)
        batch_op.drop_index("ix_case_city_service_lat")
        batch_op.create_index(
            "ix_case_city_service_created", ["city_id", "service_code", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("servicerequest", schema=None) as batch_op:
        batch_op.drop_index("ix_case_city_service_created")
        batch_op.create_index(
            "ix_case_city_service_lat", ["city_id", "service_code", "lat"], unique=False
        )
        batch_op.drop_index("ix_case_outbox")
        batch_op.create_index("ix_case_outbox", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_servicerequest_city_id", ["city_id"], unique=False)
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.drop_index("ix_reply_city_platform_reply")
        batch_op.create_index("ix_reply_platform_reply_id", ["platform_reply_id"], unique=False)
    with op.batch_alter_table("classification", schema=None) as batch_op:
        batch_op.drop_index("ix_classification_city_post_task")
        batch_op.create_index("ix_classification_city_id", ["city_id"], unique=False)
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ix_post_city_case")
        batch_op.create_index("ix_post_case_id", ["case_id"], unique=False)
