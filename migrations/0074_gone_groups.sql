-- A synced group the directory no longer has: the snapshot says which, and the run keeps (does not remove)
-- the members who are only in it until the configuration is saved without it.
ALTER TABLE snapshot_completions ADD COLUMN gone_groups text[] NOT NULL DEFAULT '{}';
