-- The fetcher's copy of a team's group graph, so that a delta round can tell who entered or left each synced
-- group's transitive membership: the groups nested under every synced group, and the users directly in each of
-- those groups. It matches the team's confirmed delta links; a delta run's own changes wait in
-- fetcher_graph_pending (and pending_nesting) until that run has succeeded, as its links do.
CREATE TABLE fetcher_graphs (
    team_id         uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    scope           text NOT NULL,      -- as in fetcher_delta_links: the synced groups and the selected properties
    nesting         jsonb NOT NULL,     -- group id -> ids of the groups directly in it, for every group read
    pending_nesting jsonb,              -- the nesting after pending_run's changes
    pending_run     uuid,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- ~3 rows per user in a nested tenant: kept narrow (uuids, no foreign key to check on every copied row).
CREATE TABLE fetcher_graph_members (
    team_id  uuid NOT NULL,
    user_id  uuid NOT NULL,
    group_id uuid NOT NULL,
    PRIMARY KEY (team_id, user_id, group_id)
);

CREATE TABLE fetcher_graph_pending (
    team_id  uuid NOT NULL,
    user_id  uuid NOT NULL,
    group_id uuid NOT NULL,
    present  boolean NOT NULL,          -- the user joined (true) or left (false) the group directly
    PRIMARY KEY (team_id, user_id, group_id)
);

CREATE FUNCTION fetcher_graph_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM fetcher_graph_members WHERE team_id = OLD.team_id;
    DELETE FROM fetcher_graph_pending WHERE team_id = OLD.team_id;
    RETURN OLD;
END $$;

CREATE TRIGGER fetcher_graph_forget AFTER DELETE ON fetcher_graphs
    FOR EACH ROW EXECUTE FUNCTION fetcher_graph_forget();
