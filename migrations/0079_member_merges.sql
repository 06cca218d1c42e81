-- Continuity on re-hire (R4): a directory user whose email is a removed member's, bound to another directory user,
-- is proposed to the admin as a merge instead of being bound or made a member silently. Accepted, the removed
-- member comes back as the new user's (same member, new object id); rejected, the new user becomes a new member
-- and the removed one goes (its tombstone in the deciding run's journal).
CREATE TABLE member_merges (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id       uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    run_id        uuid NOT NULL REFERENCES sync_runs ON DELETE CASCADE,   -- the run that proposed it
    member_id     uuid REFERENCES members ON DELETE SET NULL,             -- the removed member
    old_directory_id text,                                                -- the directory user it was bound to
    directory_id  text NOT NULL,                                          -- the new directory user
    email         text NOT NULL,
    seen          jsonb NOT NULL,          -- the new user as the run saw it: {"card", "groups"}, to apply a decision
    status        text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    decided_by    text,
    decided_at    timestamptz,
    decision_run_id uuid REFERENCES sync_runs ON DELETE SET NULL,         -- the run that applies the decision
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON member_merges (run_id);
-- One open proposal a directory user.
CREATE UNIQUE INDEX member_merges_open ON member_merges (team_id, directory_id) WHERE status = 'proposed';
