"""image cache: cache_nodes, cached_images, cache_queue (centralized_db driver)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('cache_nodes',
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('created_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('node', name=op.f('pk_cache_nodes'))
    )
    op.create_table('cached_images',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.String(length=128), nullable=False),
    sa.Column('signature', sa.String(length=255), nullable=True),
    sa.Column('last_accessed', Timestamp, nullable=False),
    sa.Column('last_modified', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cached_images')),
    sa.UniqueConstraint('node', 'image_id', name=op.f('uq_cached_images_node_image_id'))
    )
    with op.batch_alter_table('cached_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cached_images_image_id'), ['image_id'], unique=False)
    op.create_table('cache_queue',
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('queued_at', Timestamp, nullable=False),
    sa.PrimaryKeyConstraint('node', 'image_id', name=op.f('pk_cache_queue'))
    )


def downgrade() -> None:
    op.drop_table('cache_queue')
    with op.batch_alter_table('cached_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cached_images_image_id'))
    op.drop_table('cached_images')
    op.drop_table('cache_nodes')
