"""Moderators: a random session key per account, carried by its sessions.

A session named only an account's id and epoch. SQLite reuses the id of the last row
deleted and every account starts at epoch 1, so a removed moderator's cookie named the next
account added (an admin, perhaps). A key made at random for each account, and checked on
every request, cannot pass from one account to another whatever the ids do. Accounts that
exist get a key of their own; sessions signed before this revision carry none and end.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("moderators", sa.Column("session_key", sa.String(64)))
    moderators = sa.table("moderators", sa.column("id", sa.Integer), sa.column("session_key", sa.String))
    connection = op.get_bind()
    for (moderator_id,) in connection.execute(sa.select(moderators.c.id)).all():
        connection.execute(
            moderators.update()
            .where(moderators.c.id == moderator_id)
            .values(session_key=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table("moderators") as batch:
        batch.alter_column("session_key", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.drop_column("session_key")
