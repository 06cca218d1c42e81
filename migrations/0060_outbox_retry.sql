-- A message the broker did not take (no queue is bound to its key yet: its service was never started, say) stays
-- in the outbox and is offered again from this time on; the relay goes on with the messages after it meanwhile.
ALTER TABLE outbox ADD COLUMN retry_at timestamptz;
