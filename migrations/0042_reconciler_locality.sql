-- A member's links: one unique index serves both the look-up by member and the sync's own link per source
-- (NULL sources, the links an admin or a template made, never conflict), instead of two indexes to keep up.
DROP INDEX links_member_source;
DROP INDEX links_member_id_idx;
CREATE UNIQUE INDEX links_member_source ON links (member_id, source);

-- Time-ordered ids (RFC 9562 version 7 layout) for links written in bulk: each insert lands at the right edge of
-- the primary key instead of on a random page.
CREATE FUNCTION uuid_time_ordered() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
ALTER TABLE links ALTER COLUMN id SET DEFAULT uuid_time_ordered();

-- An invite has a token only once it is sent: the look-up by token needs no entry for the pending ones, which an
-- initial sync writes by the hundred thousand.
ALTER TABLE invites DROP CONSTRAINT invites_token_hash_key;
CREATE UNIQUE INDEX invites_token_hash ON invites (token_hash) WHERE token_hash IS NOT NULL;
