-- Outgoing webhooks: the URLs a team registered for its events, and each delivery to one of them, kept with
-- its outcome (the notifier sends them, retrying for 24 hours).
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id          uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    url              text NOT NULL,
    events           text[] NOT NULL,
    description      text NOT NULL DEFAULT '',
    secret_encrypted bytea NOT NULL,   -- the signing secret, under CARDSYNC_SECRET_KEYS
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON webhooks (team_id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,  -- the webhook-id header: the same on every attempt
    webhook_id      uuid NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    event           text NOT NULL,
    body            bytea NOT NULL,    -- signed and sent as it is, byte for byte, on every attempt
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     int,               -- the receiver's HTTP status at the last attempt
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ON webhook_deliveries (webhook_id, created_at DESC, id);
