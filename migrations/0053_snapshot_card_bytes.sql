-- A staged card is written by the reconciler and read back only by it, whole: kept as the JSON bytes it wrote,
-- the database neither parses it into jsonb on the way in nor prints it on the way out.
ALTER TABLE snapshot_users ALTER COLUMN card TYPE bytea USING convert_to(card::text, 'UTF8');
