"""the store: runs, ingests, position blocks, voyages, vessels, events, identity links, analysts, alerts, verdicts

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-06 11:58:26.844858
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


# long on purpose: a migration is a frozen list of every table it makes.
def upgrade() -> None:
    op.create_table('analysts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('model_name', sa.String(length=200), nullable=False),
    sa.Column('model_version', sa.String(length=50), nullable=False),
    sa.Column('model_uri', sa.Text(), nullable=False),
    sa.Column('reference_ap', sa.Float(), nullable=True),
    sa.Column('files_added', sa.Integer(), nullable=False),
    sa.Column('vessels_scored', sa.Integer(), nullable=False),
    sa.Column('alerts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('flag', sa.String(length=10), nullable=True),
    sa.Column('risk', sa.Float(), nullable=True),
    sa.Column('previous_risk', sa.Float(), nullable=True),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('voyage_id', sa.String(length=80), nullable=True),
    sa.Column('event_id', sa.String(length=120), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_mmsi'), ['mmsi'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=120), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('track_id', sa.String(length=40), nullable=True),
    sa.Column('partner_mmsi', sa.BigInteger(), nullable=True),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hours', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('end_lat', sa.Float(), nullable=True),
    sa.Column('end_lon', sa.Float(), nullable=True),
    sa.Column('port_id', sa.String(length=20), nullable=True),
    sa.Column('km_to_port', sa.Float(), nullable=True),
    sa.Column('identity_changed', sa.Boolean(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_mmsi'), ['mmsi'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_run_id'), ['run_id'], unique=False)

    op.create_table('identity_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('from_mmsi', sa.BigInteger(), nullable=False),
    sa.Column('to_mmsi', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_links_from_mmsi'), ['from_mmsi'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_links_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_links_to_mmsi'), ['to_mmsi'], unique=False)

    op.create_table('ingests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rows_read', sa.BigInteger(), nullable=False),
    sa.Column('rows_kept', sa.BigInteger(), nullable=False),
    sa.Column('rows_rejected', sa.BigInteger(), nullable=False),
    sa.Column('rejected_reasons', sa.Text(), nullable=False),
    sa.Column('first_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_time', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    with op.batch_alter_table('ingests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingests_run_id'), ['run_id'], unique=False)

    op.create_table('vessels',
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('flag', sa.String(length=10), nullable=True),
    sa.Column('imo', sa.String(length=20), nullable=True),
    sa.Column('callsign', sa.String(length=20), nullable=True),
    sa.Column('risk', sa.Float(), nullable=True),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('voyage_id', sa.String(length=80), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('identities', sa.Text(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('mmsi')
    )
    with op.batch_alter_table('vessels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vessels_imo'), ['imo'], unique=False)
        batch_op.create_index(batch_op.f('ix_vessels_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_vessels_run_id'), ['run_id'], unique=False)

    op.create_table('voyages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('track_id', sa.String(length=40), nullable=False),
    sa.Column('voyage_id', sa.String(length=80), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('origin_port', sa.String(length=20), nullable=True),
    sa.Column('destination_port', sa.String(length=20), nullable=True),
    sa.Column('risk', sa.Float(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('partial', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('voyages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voyages_mmsi'), ['mmsi'], unique=False)
        batch_op.create_index(batch_op.f('ix_voyages_run_id'), ['run_id'], unique=False)

    op.create_table('position_blocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ingest_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['ingest_id'], ['ingests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('position_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_position_blocks_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_position_blocks_ingest_id'), ['ingest_id'], unique=False)

    op.create_table('verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('analyst_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.ForeignKeyConstraint(['analyst_id'], ['analysts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verdicts_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdicts_analyst_id'), ['analyst_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verdicts_analyst_id'))
        batch_op.drop_index(batch_op.f('ix_verdicts_alert_id'))

    op.drop_table('verdicts')
    with op.batch_alter_table('position_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_position_blocks_ingest_id'))
        batch_op.drop_index(batch_op.f('ix_position_blocks_day'))

    op.drop_table('position_blocks')
    with op.batch_alter_table('voyages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voyages_run_id'))
        batch_op.drop_index(batch_op.f('ix_voyages_mmsi'))

    op.drop_table('voyages')
    with op.batch_alter_table('vessels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vessels_run_id'))
        batch_op.drop_index(batch_op.f('ix_vessels_name'))
        batch_op.drop_index(batch_op.f('ix_vessels_imo'))

    op.drop_table('vessels')
    with op.batch_alter_table('ingests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingests_run_id'))

    op.drop_table('ingests')
    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_links_to_mmsi'))
        batch_op.drop_index(batch_op.f('ix_identity_links_run_id'))
        batch_op.drop_index(batch_op.f('ix_identity_links_from_mmsi'))

    op.drop_table('identity_links')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_run_id'))
        batch_op.drop_index(batch_op.f('ix_events_mmsi'))
        batch_op.drop_index(batch_op.f('ix_events_kind'))
        batch_op.drop_index(batch_op.f('ix_events_event_id'))

    op.drop_table('events')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_run_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_mmsi'))

    op.drop_table('alerts')
    op.drop_table('runs')
    op.drop_table('analysts')
