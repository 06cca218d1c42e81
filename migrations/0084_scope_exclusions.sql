-- Scope rules (R2): the users of the synced groups a snapshot's rules left out, the first 1,000 of them
-- (directory_id, name, email, rule) and how many there were, for a dry run's plan to list.

ALTER TABLE snapshot_completions
    ADD COLUMN excluded       jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN excluded_count int   NOT NULL DEFAULT 0;
