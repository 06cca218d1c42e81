-- Certificate credentials of a team's own app: how it signs in, when its credential expires (read from the
-- certificate, or given for a secret), and the expiry notices sent to the team's admins, each once.
ALTER TABLE directory_connections
    ADD COLUMN credential_type text CHECK (credential_type IN ('secret', 'certificate')),
    ADD COLUMN credential_expires_at timestamptz,
    ADD COLUMN certificate_thumbprint text;
UPDATE directory_connections SET credential_type = 'secret' WHERE kind = 'own_app';
CREATE INDEX ON directory_connections (credential_expires_at) WHERE credential_expires_at IS NOT NULL;

-- One row per notice: the credential (by its expiry) and the days before it that the notice is for.
CREATE TABLE credential_expiry_notices (
    team_id    uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    days       int NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, expires_at, days)
);
