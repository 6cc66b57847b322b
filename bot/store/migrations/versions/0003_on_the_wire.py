"""Publications: whether a request may have reached the network, and since when.

``on_wire``: a request of the current send may have reached the network and its outcome is
not known yet. ``first_wire_at``: when the first request of this publication went on the
wire (a Mastodon idempotency key is remembered about an hour from then). Rows tried before
this migration are taken as having been on the wire, which is the cautious reading.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("on_wire", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("first_wire_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE publications SET first_wire_at = COALESCE(claimed_at, updated_at), "
        "on_wire = (state = 'sending') WHERE attempts > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.drop_column("first_wire_at")
        batch.drop_column("on_wire")
