-- Staging appends: one row per (page, listed user), written with COPY, so that pages of one run stage side by
-- side without touching each other's rows; the apply gathers each user's rows once (staging.gather). A run caught
-- in the middle of this change cannot finish from its staged pages: it fails, and the next run starts afresh.
UPDATE sync_runs SET status = 'failed', finished_at = now(),
       error = 'the run was interrupted by an upgrade; start it again'
 WHERE status IN ('fetching', 'reconciling');
DELETE FROM snapshot_removals;
DELETE FROM snapshot_pages;
DELETE FROM snapshot_completions;
DROP TABLE snapshot_users;

CREATE TABLE snapshot_users (
    run_id       uuid NOT NULL,
    attempt      text NOT NULL,
    seq          int NOT NULL,      -- the page that listed the user
    directory_id text NOT NULL,
    group_id     text,              -- the synced group of that page (NULL on a delta page of no group)
    card         jsonb,             -- the card the user maps to under the run's configuration (with skip NULL
                                    -- too: an earlier page of the attempt mapped the user)
    want         text[],            -- the values an unchanged member holds (fields.fingerprint)
    email_key    text,              -- lower(trim(mail, else userPrincipalName))
    login_key    text,              -- lower(trim(userPrincipalName))
    skip         text               -- why the record cannot be a member; NULL when it can
);
CREATE INDEX snapshot_users_attempt ON snapshot_users (run_id, attempt);
