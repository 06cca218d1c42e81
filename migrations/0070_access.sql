-- Access: team tokens that can be replaced, signed-in sessions, the sign-in and consent round trips, the audit log.

-- A team may hold several bearer tokens; each is listed by id and revoked on its own. The hash of the token a team
-- was made with moves here; teams.token_hash is no longer read.
CREATE TABLE team_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id      uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX team_tokens_team ON team_tokens (team_id, created_at);
INSERT INTO team_tokens (team_id, token_hash, name, created_at)
SELECT id, token_hash, 'first token', created_at FROM teams WHERE token_hash IS NOT NULL;
ALTER TABLE teams ALTER COLUMN token_hash DROP NOT NULL;

-- A browser's session: the cookie carries a random id, the table its hash. 'admin' sessions signed in with
-- Microsoft as (tenant_id, object_id); 'operator' sessions signed in with the operator token.
CREATE TABLE auth_sessions (
    id_hash      text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('admin', 'operator')),
    tenant_id    text,
    object_id    text,
    email        text,
    name         text NOT NULL DEFAULT '',
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    CHECK (kind = 'operator' OR (tenant_id IS NOT NULL AND object_id IS NOT NULL))
);
CREATE INDEX auth_sessions_seen ON auth_sessions (last_seen_at);

-- A signed-in person's teams: the admins with their account's email, or made from their directory object.
CREATE INDEX members_admin_account ON members (account_id) WHERE role = 'admin';
CREATE INDEX members_admin_directory ON members (directory_id) WHERE role = 'admin';

-- One sign-in round trip (OpenID Connect with PKCE): msal's flow, kept server-side, used once.
CREATE TABLE auth_flows (
    state_hash  text PRIMARY KEY,
    flow        jsonb NOT NULL,
    next_path   text NOT NULL DEFAULT '/',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_flows_created ON auth_flows (created_at);

-- One admin-consent round trip, bound to the team, the signed-in tenant and the session that started it.
CREATE TABLE consent_states (
    state_hash   text PRIMARY KEY,
    team_id      uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    tenant_id    text NOT NULL,
    session_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz
);
CREATE INDEX consent_states_created ON consent_states (created_at);

-- Who did what, when, from where. Rows are only ever added: a trigger refuses updates and deletes.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    team_id     uuid,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('operator', 'team_token', 'admin', 'anonymous')),
    actor_id    text,
    actor_email text,
    address     text,
    action      text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_team ON audit_log (team_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
