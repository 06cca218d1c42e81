-- The addition guard (R10's counterpart): the new members a held run holds back, with their links, subteam
-- places and invites, as the reconciler's chunk tables hold them, until an admin approves the run or a later
-- run supersedes it. Item lists mirror services/reconciler/writer.py.

CREATE TABLE held_addition_members (
    run_id uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    op text,
    member_id uuid,
    account_id uuid,
    new_account bool,
    directory_id text,
    login_email text,
    card_name text,
    card_email text,
    card_job_title text,
    card_company text,
    card_phone text,
    card_location text,
    card_fields text,
    status text,
    role text,
    role_from_sync bool,
    bind bool,
    invite bool,
    relogin bool
);
CREATE INDEX ON held_addition_members (run_id);

CREATE TABLE held_addition_links (
    run_id uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    id uuid,
    member_id uuid,
    source text,
    type text,
    label text,
    value text,
    position int,
    new bool
);
CREATE INDEX ON held_addition_links (run_id);

CREATE TABLE held_addition_subteams (
    run_id uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    member_id uuid,
    group_id text,
    op text,
    role text,
    role_from_sync bool,
    new bool
);
CREATE INDEX ON held_addition_subteams (run_id);

CREATE TABLE held_addition_invites (
    run_id uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    routing_key text,
    message_id text,
    body bytea,
    member_id uuid
);
CREATE INDEX ON held_addition_invites (run_id);

-- An approvable preview: a dry run keeps a hash of its plan; a run made to apply a preview names it, and
-- applies only while its own plan has that hash.
ALTER TABLE sync_runs
    ADD COLUMN plan_hash   text,
    ADD COLUMN applies_run uuid REFERENCES sync_runs ON DELETE SET NULL;
CREATE UNIQUE INDEX sync_runs_applies_run ON sync_runs (applies_run) WHERE applies_run IS NOT NULL;
