"""image_writes and tasks.worker: who is writing what, for crash recovery

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('image_writes',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('store', sa.String(length=255), nullable=True),
    sa.Column('started_at', Timestamp, nullable=False),
    sa.Column('touched_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_image_writes'))
    )
    with op.batch_alter_table('image_writes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_writes_image_id'), ['image_id'], unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('worker')
    with op.batch_alter_table('image_writes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_writes_image_id'))
    op.drop_table('image_writes')
