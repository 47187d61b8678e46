"""quota_reservations and quota_locks: storage quotas that hold under concurrency

Revision ID: 0010
Revises: 0009

Follows the last revision on main (0009).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('quota_reservations',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('project', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('created_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_quota_reservations'))
    )
    with op.batch_alter_table('quota_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_reservations_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_quota_reservations_project'), ['project'], unique=False)
    op.create_table('quota_locks',
    sa.Column('project', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('project', name=op.f('pk_quota_locks'))
    )


def downgrade() -> None:
    op.drop_table('quota_locks')
    with op.batch_alter_table('quota_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quota_reservations_project'))
        batch_op.drop_index(batch_op.f('ix_quota_reservations_owner'))
    op.drop_table('quota_reservations')
