-- A run is succeeded only when all of it is done, photos included, and shows its progress while active (R17).

-- The progress of an active run: its phase and counters, each written by the service doing that part, and when it
-- was last written (the stall sweep reads that as the run moving).
ALTER TABLE sync_runs ADD COLUMN progress jsonb, ADD COLUMN progress_at timestamptz;

-- 'photos': applied, its members listed, waiting for the photos the fetcher checks after the apply. The API shows it
-- as 'reconciling' with the phase 'photos'. It is active: one team, one run at a time.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('queued', 'fetching', 'reconciling', 'photos', 'succeeded', 'failed', 'held'));
DROP INDEX sync_runs_one_active;
CREATE UNIQUE INDEX sync_runs_one_active ON sync_runs (team_id) WHERE status IN ('queued', 'fetching', 'reconciling', 'photos');

-- Whether the fetcher checks photos once the snapshot is applied, so that the run waits for them.
ALTER TABLE snapshot_completions ADD COLUMN photos boolean NOT NULL DEFAULT false;

-- The photo step of a run in 'photos': each message of photos stored (once), and the fetcher's word on how many
-- messages its check sent. The run ends when every one the completion counts is stored.
CREATE TABLE photo_deliveries (
    run_id  uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    attempt text NOT NULL,
    seq     int NOT NULL,
    photos  int NOT NULL,
    PRIMARY KEY (run_id, attempt, seq)
);

CREATE TABLE photo_completions (
    run_id         uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    attempt        text NOT NULL,
    messages       int NOT NULL,
    graph_requests int NOT NULL,
    error          text,              -- why the check stopped short; the run fails saying so
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, attempt)
);
