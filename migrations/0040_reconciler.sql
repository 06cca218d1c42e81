-- The reconciler's staging: each staged user's mapped card and identity keys, and each snapshot's completion.
ALTER TABLE snapshot_users
    ADD COLUMN card      jsonb,          -- the card the user maps to under the run's configuration
    ADD COLUMN email_key text,           -- lower(trim(mail, else userPrincipalName))
    ADD COLUMN login_key text,           -- lower(trim(userPrincipalName))
    ADD COLUMN skip      text;           -- why the record cannot be a member; NULL when it can
CREATE INDEX snapshot_users_email ON snapshot_users (run_id, email_key);
CREATE INDEX snapshot_memberships_user ON snapshot_memberships (run_id, directory_id);

CREATE TABLE snapshot_completions (
    run_id      uuid PRIMARY KEY REFERENCES sync_runs ON DELETE CASCADE,
    pages       int NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('full', 'delta')),
    groups      jsonb NOT NULL,          -- [{"id", "display_name"}] as the directory names them now
    roles       jsonb NOT NULL,          -- role template id -> directory ids
    skipped     jsonb NOT NULL,          -- records the fetcher could not read
    received_at timestamptz NOT NULL DEFAULT now()
);
