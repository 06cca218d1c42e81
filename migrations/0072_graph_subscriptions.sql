-- Near-real-time sync: the Graph change-notification subscriptions kept for each team, what the scheduler
-- last found when it kept them, the teams a notification asked to sync, and runs that changed nothing,
-- counted by day.

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_trigger_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_trigger_check
    CHECK (trigger IN ('manual', 'schedule', 'notification'));

CREATE TABLE graph_subscriptions (
    graph_id          text PRIMARY KEY,          -- the subscription's id at Graph, which notifications carry
    team_id           uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    resource          text NOT NULL,             -- what it watches: 'users' or 'groups'
    tenant_id         text NOT NULL,             -- made with this tenant and app
    client_id         text NOT NULL,
    client_state_hash bytea NOT NULL,            -- sha256 of the clientState secret Graph sends back
    expires_at        timestamptz NOT NULL,
    reauthorize       boolean NOT NULL DEFAULT false,  -- Graph asked for it (reauthorizationRequired)
    -- Set once the connection it was made with was removed or replaced: what it takes to delete it at Graph,
    -- kept only until the scheduler has.
    retired_kind      text,
    retired_secret    bytea,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON graph_subscriptions (team_id);

-- One row per team whose configuration was saved: when the scheduler looks at its subscriptions next, and
-- what it found the last time (shown with the configuration).
CREATE TABLE realtime_teams (
    team_id    uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    check_at   timestamptz NOT NULL DEFAULT now(),
    state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('off', 'pending', 'on', 'failed')),
    reason     text,
    checked_at timestamptz
);
CREATE INDEX ON realtime_teams (check_at);

-- A team a change notification asked to sync: a run is queued at due_at; notifications until then join it.
CREATE TABLE realtime_requests (
    team_id     uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    due_at      timestamptz NOT NULL,
    notified_at timestamptz NOT NULL DEFAULT now()
);

-- Runs that changed nothing, past the newest few kept whole per team: how many a day, and their requests.
CREATE TABLE sync_run_days (
    team_id        uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    day            date NOT NULL,             -- UTC
    runs           int NOT NULL,
    graph_requests bigint NOT NULL,
    PRIMARY KEY (team_id, day)
);
CREATE INDEX sync_runs_no_change ON sync_runs (team_id, created_at DESC)
    WHERE status = 'succeeded' AND NOT dry_run AND error IS NULL AND member_errors = '[]'::jsonb
      AND counts ->> 'created' = '0' AND counts ->> 'invited' = '0' AND counts ->> 'updated' = '0'
      AND counts ->> 'removed' = '0' AND counts ->> 'deleted' = '0';

-- A saved choice of near-real-time or of groups, and any change of the directory connection, has the
-- scheduler look at the team's subscriptions at once.
CREATE FUNCTION realtime_config_saved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.config -> 'realtime' IS DISTINCT FROM NEW.config -> 'realtime'
       OR OLD.config -> 'groups' IS DISTINCT FROM NEW.config -> 'groups' THEN
        INSERT INTO realtime_teams (team_id) VALUES (NEW.team_id)
            ON CONFLICT (team_id) DO UPDATE SET check_at = now();
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER realtime_config_saved AFTER INSERT OR UPDATE OF config ON sync_configs
    FOR EACH ROW EXECUTE FUNCTION realtime_config_saved();

CREATE FUNCTION realtime_connection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    retire boolean := TG_OP = 'DELETE';
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE realtime_teams SET check_at = now() WHERE team_id = NEW.team_id;
        RETURN NULL;
    END IF;
    -- A subscription is deleted with the app that made it: once that app is gone from the connection, the
    -- subscription keeps what deleting it takes.
    IF TG_OP = 'UPDATE' THEN
        retire := (OLD.tenant_id, OLD.client_id) IS DISTINCT FROM (NEW.tenant_id, NEW.client_id);
    END IF;
    IF retire THEN
        UPDATE graph_subscriptions SET retired_kind = OLD.kind, retired_secret = OLD.secret_encrypted
         WHERE team_id = OLD.team_id AND tenant_id = OLD.tenant_id AND client_id = OLD.client_id
           AND retired_kind IS NULL;
    END IF;
    UPDATE realtime_teams SET check_at = now() WHERE team_id = OLD.team_id;
    RETURN NULL;
END $$;

CREATE TRIGGER realtime_connection_changed AFTER INSERT OR UPDATE OR DELETE ON directory_connections
    FOR EACH ROW EXECUTE FUNCTION realtime_connection_changed();
