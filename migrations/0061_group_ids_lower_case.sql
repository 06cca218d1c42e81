-- Synced group ids are kept in lower case, as Graph answers with them; before, they were kept as an admin
-- typed them. A subteam bound to an id in another case gives its places to the subteam a later sync bound to the
-- lower-case id, where there is one, and goes; otherwise it is bound to the lower-case id itself.
CREATE FUNCTION pg_temp.graph_id(id text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN lower(id) ELSE id END
$$;

INSERT INTO subteam_members (subteam_id, member_id, role, role_from_sync)
SELECT low.id, sm.member_id, sm.role, sm.role_from_sync
  FROM subteams up
  JOIN subteams low ON low.team_id = up.team_id
                   AND low.directory_group_id = pg_temp.graph_id(up.directory_group_id)
  JOIN subteam_members sm ON sm.subteam_id = up.id
 WHERE up.directory_group_id <> pg_temp.graph_id(up.directory_group_id)
ON CONFLICT DO NOTHING;

DELETE FROM subteams up USING subteams low
 WHERE low.team_id = up.team_id AND low.directory_group_id = pg_temp.graph_id(up.directory_group_id)
   AND up.directory_group_id <> pg_temp.graph_id(up.directory_group_id);

UPDATE subteams SET directory_group_id = pg_temp.graph_id(directory_group_id)
 WHERE directory_group_id <> pg_temp.graph_id(directory_group_id);

-- The saved configurations, and the runs' copies of them.
CREATE FUNCTION pg_temp.graph_ids(config jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(config, '{groups}', coalesce(
        (SELECT jsonb_agg(CASE WHEN jsonb_typeof(g -> 'id') = 'string'
                               THEN jsonb_set(g, '{id}', to_jsonb(pg_temp.graph_id(g ->> 'id'))) ELSE g END
                          ORDER BY n)
           FROM jsonb_array_elements(config -> 'groups') WITH ORDINALITY AS e(g, n)), '[]'))
$$;

UPDATE sync_configs SET config = pg_temp.graph_ids(config)
 WHERE jsonb_typeof(config -> 'groups') = 'array' AND config <> pg_temp.graph_ids(config);

UPDATE sync_runs SET config = pg_temp.graph_ids(config)
 WHERE jsonb_typeof(config -> 'groups') = 'array' AND config <> pg_temp.graph_ids(config);
