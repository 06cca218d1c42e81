-- The sent-log becomes the claim every notifier replica takes before it sends an email: a row is written
-- 'sending' (with the replica and a lease) and committed before the email goes out, then marked 'sent' or
-- 'failed'. A replica that finds a live 'sending' row leaves the email to its holder; a lease that ran out
-- belongs to a holder that died, and the email may be claimed again. Rows written before are emails that left.
ALTER TABLE sent_emails
    ADD COLUMN state       text NOT NULL DEFAULT 'sent' CHECK (state IN ('sending', 'sent', 'failed')),
    ADD COLUMN holder      text,
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN error       text,
    ALTER COLUMN sent_at DROP NOT NULL,
    ALTER COLUMN sent_at DROP DEFAULT;
ALTER TABLE sent_emails ALTER COLUMN state DROP DEFAULT;

-- An invite sent again on an admin's request (it failed, or its link expired) is a new email with a sent-log
-- key of its own: 'invite:<member_id>' for round 0, 'invite:<member_id>:<round>' after.
ALTER TABLE invites ADD COLUMN round int NOT NULL DEFAULT 0;
