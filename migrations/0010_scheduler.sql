-- The members list pages through a team in (created_at, id) order.
CREATE INDEX members_team_page ON members (team_id, created_at, id);
