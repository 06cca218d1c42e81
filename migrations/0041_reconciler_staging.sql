-- The reconciler's staging, keyed by fetch attempt: a refetch of a run stages apart, and only the attempt that
-- its completion names makes the snapshot. A staged user is one row with the synced groups that listed it and
-- what its synced values must be for its member to be unchanged; delta removals have a table of their own.
-- Profile photos that arrive before their member exists wait in staged_photos.
DROP TABLE snapshot_pages, snapshot_users, snapshot_memberships, snapshot_completions;

CREATE TABLE snapshot_pages (
    run_id      uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    attempt     text NOT NULL,
    seq         int NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, attempt, seq)
);

CREATE TABLE snapshot_users (
    run_id       uuid NOT NULL,
    attempt      text NOT NULL,
    directory_id text NOT NULL,
    groups       text[] NOT NULL,  -- the synced groups whose pages listed the user (delta: joined)
    card         jsonb,            -- the card the user maps to under the run's configuration
    want         text[],           -- the values an unchanged member holds (fields.fingerprint)
    email_key    text,             -- lower(trim(mail, else userPrincipalName))
    login_key    text,             -- lower(trim(userPrincipalName))
    skip         text,             -- why the record cannot be a member; NULL when it can
    PRIMARY KEY (run_id, attempt, directory_id)
);

CREATE TABLE snapshot_removals (
    run_id       uuid NOT NULL,
    attempt      text NOT NULL,
    directory_id text NOT NULL,
    group_id     text NOT NULL,    -- '*': the user left every group
    PRIMARY KEY (run_id, attempt, directory_id, group_id)
);

CREATE TABLE snapshot_completions (
    run_id      uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    attempt     text NOT NULL,
    pages       int NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('full', 'delta')),
    groups      jsonb NOT NULL,    -- [{"id", "display_name"}] as the directory names them now
    roles       jsonb NOT NULL,    -- role template id -> directory ids
    skipped     jsonb NOT NULL,    -- records the fetcher could not read
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, attempt)
);

CREATE TABLE staged_photos (
    team_id      uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    directory_id text NOT NULL,
    etag         text,
    content_type text,             -- NULL: the user has no photo any more
    data         bytea,
    sent_at      timestamptz NOT NULL,  -- of the message: a later one replaces an earlier one
    PRIMARY KEY (team_id, directory_id)
);
