-- Directory connections, sync configuration, runs, and the staging of directory snapshots.
CREATE TABLE directory_connections (
    team_id          uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('own_app', 'consent')),
    tenant_id        text NOT NULL,
    client_id        text NOT NULL,
    secret_encrypted bytea,          -- NULL for the platform's own app (admin consent)
    connected_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON directory_connections (tenant_id);

CREATE TABLE sync_configs (
    team_id      uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    config       jsonb NOT NULL,
    version      int NOT NULL DEFAULT 1,
    cadence      text NOT NULL DEFAULT 'daily',
    next_run_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_configs_due ON sync_configs (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE sync_runs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id        uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    trigger        text NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    requested_by   text,
    dry_run        boolean NOT NULL DEFAULT false,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'fetching', 'reconciling', 'succeeded', 'failed', 'held')),
    config         jsonb,            -- the configuration the run was started with
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    counts         jsonb NOT NULL DEFAULT
                   '{"created":0,"invited":0,"updated":0,"unchanged":0,"removed":0,"deleted":0,"skipped":0}',
    graph_requests int NOT NULL DEFAULT 0,
    error          text,
    member_errors  jsonb NOT NULL DEFAULT '[]',
    plan           jsonb,
    summary        jsonb             -- who joined and who left, for the admin digest
);
CREATE INDEX ON sync_runs (team_id, created_at DESC);
-- One team, one run at a time: a second Sync Now finds this one.
CREATE UNIQUE INDEX sync_runs_one_active ON sync_runs (team_id) WHERE status IN ('queued', 'fetching', 'reconciling');

CREATE TABLE held_removals (
    run_id     uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    member_id  uuid NOT NULL REFERENCES members ON DELETE CASCADE,
    PRIMARY KEY (run_id, member_id)
);

-- Snapshot staging: pages land here (once each) before the plan is made.
CREATE TABLE snapshot_pages (
    run_id      uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    seq         int NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE snapshot_users (
    run_id       uuid NOT NULL,
    directory_id text NOT NULL,
    properties   jsonb NOT NULL,
    PRIMARY KEY (run_id, directory_id)
);

CREATE TABLE snapshot_memberships (
    run_id       uuid NOT NULL,
    group_id     text NOT NULL,
    directory_id text NOT NULL,
    removed      boolean NOT NULL DEFAULT false,   -- delta: the user left the group
    PRIMARY KEY (run_id, group_id, directory_id)
);

-- Messaging: consumers' inboxes and the transactional outbox.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    routing_key  text NOT NULL,
    message_id   text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- The notifier's sent-log: one row per email that left, keyed by what the email is.
CREATE TABLE sent_emails (
    key        text PRIMARY KEY,         -- 'invite:<member_id>', 'digest:<run_id>:<admin member_id>', ...
    recipient  text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);
