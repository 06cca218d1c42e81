-- The card platform: accounts, teams, members with their cards, links, photos, subteams, templates.
CREATE TABLE accounts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    email_key   text GENERATED ALWAYS AS (lower(btrim(email))) STORED UNIQUE,
    name        text NOT NULL DEFAULT '',
    created_by_team uuid,            -- the team whose sync made it; NULL: it existed on its own
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE templates (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id     uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON templates (team_id);

CREATE TABLE template_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template_id uuid NOT NULL REFERENCES templates ON DELETE CASCADE,
    position    int NOT NULL,
    type        text NOT NULL,
    label       text NOT NULL,
    value       text NOT NULL DEFAULT ''
);
CREATE INDEX ON template_links (template_id);

CREATE TABLE members (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id         uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES accounts,
    directory_id    text,            -- the Entra object id, once a sync made or claimed the member
    managed         boolean NOT NULL DEFAULT false,
    status          text NOT NULL CHECK (status IN ('invited', 'active', 'removed')),
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    role_from_sync  boolean NOT NULL DEFAULT false,
    subscription_active boolean NOT NULL DEFAULT true,
    template_id     uuid REFERENCES templates ON DELETE SET NULL,
    card_name       text,
    card_email      text,
    card_job_title  text,
    card_company    text,
    card_phone      text,
    card_location   text,
    card_fields     jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,
    UNIQUE (team_id, account_id)
);
CREATE UNIQUE INDEX members_team_directory ON members (team_id, directory_id) WHERE directory_id IS NOT NULL;

CREATE TABLE member_photos (
    member_id    uuid PRIMARY KEY REFERENCES members ON DELETE CASCADE,
    content_type text NOT NULL,
    etag         text,
    data         bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE links (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id        uuid NOT NULL REFERENCES members ON DELETE CASCADE,
    type             text NOT NULL,
    label            text NOT NULL,
    value            text NOT NULL,
    template_link_id uuid REFERENCES template_links ON DELETE SET NULL,
    source           text,           -- 'email', 'phone' or 'mapping:<label>' for links a sync owns
    position         int NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX links_member_source ON links (member_id, source) WHERE source IS NOT NULL;
CREATE INDEX ON links (member_id);

CREATE TABLE subteams (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id            uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    name               text NOT NULL,
    directory_group_id text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX subteams_team_group ON subteams (team_id, directory_group_id) WHERE directory_group_id IS NOT NULL;

CREATE TABLE subteam_members (
    subteam_id     uuid NOT NULL REFERENCES subteams ON DELETE CASCADE,
    member_id      uuid NOT NULL REFERENCES members ON DELETE CASCADE,
    role           text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    role_from_sync boolean NOT NULL DEFAULT false,
    PRIMARY KEY (subteam_id, member_id)
);
CREATE INDEX ON subteam_members (member_id);

-- Invites: the claim token is stored hashed; the email carries it.
CREATE TABLE invites (
    member_id   uuid PRIMARY KEY REFERENCES members ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'sent', 'failed', 'claimed')),
    token_hash  text UNIQUE,
    sent_at     timestamptz,
    expires_at  timestamptz,
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
