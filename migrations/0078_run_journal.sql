-- Undoing a run: each applied run keeps, for 30 days, what every member it touched was before it, and an undo is
-- a run of its own that puts them back.

-- Written by the set-based apply as it goes: one row per member a run changed, removed or deleted, with its row,
-- account, links, subteam places and invite as they were (a deleted one's photo too: the row is its tombstone);
-- the members a chunk created have no earlier image, and go in one row a chunk ('create', ``created`` their ids,
-- ``member_id`` a key of the row's own), five times cheaper than a row each on a first sync. A run that changed
-- nothing writes none. No foreign key to the run, whose check would cost a statement per row: rows go with
-- their run's 30 days.
CREATE TABLE run_journal (
    run_id    uuid NOT NULL,
    member_id uuid NOT NULL,
    op        text NOT NULL CHECK (op IN ('create', 'update', 'remove', 'delete')),
    created   uuid[],
    member    jsonb,
    account   jsonb,
    links     jsonb,
    places    jsonb,
    invite    jsonb,
    photo     jsonb,
    PRIMARY KEY (run_id, member_id)
);

-- The run an undo run reverses (NULL for every other run); a run is undone once.
ALTER TABLE sync_runs ADD COLUMN undoes uuid REFERENCES sync_runs ON DELETE SET NULL;
CREATE UNIQUE INDEX sync_runs_undone_once ON sync_runs (undoes) WHERE undoes IS NOT NULL AND status <> 'failed';
