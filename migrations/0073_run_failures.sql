-- Failures that speak up and heal: why a run failed as a cause the scheduler retries by and the notifier
-- words by (shared/failures.py), and which failed run the scheduler has planned a retry for.
ALTER TABLE sync_runs ADD COLUMN failure_cause text;
ALTER TABLE sync_configs ADD COLUMN retry_of uuid;
-- The retry sweep reads the failed runs of the last day.
CREATE INDEX sync_runs_failed ON sync_runs (finished_at) WHERE status = 'failed';
-- The cause of a photo check that stopped short, for the run it fails.
ALTER TABLE photo_completions ADD COLUMN cause text;
