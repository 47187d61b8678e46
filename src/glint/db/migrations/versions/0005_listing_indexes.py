"""listing indexes: every image listing walks an index in its sort order

On SQLite, also planner statistics for the image tables (see
SQLITE_DISTINCT_VALUES).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# (old index, new index, columns of the new one) per table: the new ones lead
# with the same columns, so they serve the old ones' queries too.
CHANGES = {
    'images': [
        ('ix_images_name', 'ix_images_deleted_name_created_at_id',
         ['deleted', 'name', 'created_at', 'id']),
        ('ix_images_owner_deleted', 'ix_images_owner_deleted_created_at_id',
         ['owner', 'deleted', 'created_at', 'id']),
        ('ix_images_visibility_deleted', 'ix_images_visibility_deleted_created_at_id',
         ['visibility', 'deleted', 'created_at', 'id']),
    ],
    'image_tags': [
        ('ix_image_tags_value', 'ix_image_tags_value_image_id', ['value', 'image_id']),
    ],
}
OLD_COLUMNS = {
    'ix_images_name': ['name'],
    'ix_images_owner_deleted': ['owner', 'deleted'],
    'ix_images_visibility_deleted': ['visibility', 'deleted'],
    'ix_image_tags_value': ['value'],
}


# SQLite has no statistics until ANALYZE runs, which Glint never does, and
# without them it takes every equality on an indexed column for a needle in a
# haystack: it would walk all shared images in time order to find the few
# shared with one project, or all images by name to find one project's. These
# rows (sqlite_stat1, which SQLite documents as written by applications too)
# describe a cloud of 100,000 images of 2,000 projects instead, so plans are
# the ones the listing is built for, at any size. An ANALYZE replaces them
# with measured ones. Per table: rows, then distinct values per column.
SQLITE_DISTINCT_VALUES = {
    'images': (100_000, {'id': 100_000, 'created_at': 100_000, 'deleted': 2, 'name': 50_000,
                         'owner': 2_000, 'visibility': 4, 'status': 5, 'checksum': 50_000,
                         'os_hash_value': 50_000}),
    'image_members': (2_000, {'image_id': 1_000, 'member': 100, 'status': 3}),
    'image_tags': (200_000, {'image_id': 100_000, 'value': 1_000}),
    'image_properties': (400_000, {'image_id': 100_000, 'name': 20}),
    'image_locations': (100_000, {'image_id': 100_000}),
}


def _seed_sqlite_statistics(connection: sa.Connection) -> None:
    connection.exec_driver_sql('ANALYZE sqlite_schema')  # creates sqlite_stat1
    for table, (rows, distinct) in SQLITE_DISTINCT_VALUES.items():
        connection.exec_driver_sql('DELETE FROM sqlite_stat1 WHERE tbl = ?', (table,))
        for (index,) in connection.exec_driver_sql(
                'SELECT name FROM sqlite_schema WHERE type = ? AND tbl_name = ?',
                ('index', table)).all():
            columns = [row[2] for row in connection.exec_driver_sql(
                f'PRAGMA index_info("{index}")').all()]
            stat, matching = [rows], rows
            for column in columns:
                matching = max(1, matching // distinct.get(column, 1))
                stat.append(matching)
            connection.exec_driver_sql('INSERT INTO sqlite_stat1 VALUES (?, ?, ?)',
                                       (table, index, ' '.join(map(str, stat))))
    connection.exec_driver_sql('ANALYZE sqlite_schema')  # loads them


def upgrade() -> None:
    for table, changes in CHANGES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new, columns in changes:
                batch_op.create_index(op.f(new), columns, unique=False)
                batch_op.drop_index(op.f(old))
    if op.get_bind().dialect.name == 'sqlite':
        _seed_sqlite_statistics(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        tables = ', '.join(f"'{table}'" for table in SQLITE_DISTINCT_VALUES)
        op.execute(f'DELETE FROM sqlite_stat1 WHERE tbl IN ({tables})')
    for table, changes in CHANGES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new, _ in changes:
                batch_op.create_index(op.f(old), OLD_COLUMNS[old], unique=False)
                batch_op.drop_index(op.f(new))
