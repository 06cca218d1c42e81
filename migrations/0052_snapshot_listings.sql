-- Users a page lists again, whose card an earlier page of the same attempt staged: one row per page holds their
-- ids (in a nested tenant they are most listings), instead of one row each in snapshot_users.
CREATE TABLE snapshot_listings (
    run_id   uuid NOT NULL,
    attempt  text NOT NULL,
    seq      int NOT NULL,   -- the page that listed them
    group_id text,           -- the synced group of that page (NULL on a delta page of no group)
    ids      text[] NOT NULL
);
CREATE INDEX snapshot_listings_attempt ON snapshot_listings (run_id, attempt);
