"""image_copy_checks and audit_cursors: the integrity auditor's verdicts and resume markers

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('image_copy_checks',
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('url_digest', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('store', sa.String(length=255), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('differences', sa.Text(), nullable=False),
    sa.Column('checked_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('image_id', 'url_digest', name=op.f('pk_image_copy_checks'))
    )
    with op.batch_alter_table('image_copy_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_copy_checks_verdict_checked_at'), ['verdict', 'checked_at'], unique=False)
    op.create_table('audit_cursors',
    sa.Column('scope', sa.String(length=300), nullable=False),
    sa.Column('last_image_id', sa.String(length=36), nullable=False),
    sa.Column('started_at', Timestamp, nullable=False),
    sa.Column('updated_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_audit_cursors'))
    )


def downgrade() -> None:
    op.drop_table('audit_cursors')
    with op.batch_alter_table('image_copy_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_copy_checks_verdict_checked_at'))
    op.drop_table('image_copy_checks')
