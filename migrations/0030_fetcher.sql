-- The fetcher's own state: delta links per team, the photos it has seen, and where the photo rotation stands.
CREATE TABLE fetcher_delta_links (
    team_id      uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    kind         text NOT NULL,         -- 'users', or 'groups:<n>' (a group delta filter takes 50 ids)
    scope        text NOT NULL,         -- fingerprint of the synced groups and the properties it tracks
    delta_link   text,                  -- confirmed: the run that read up to it succeeded
    pending_link text,                  -- from the latest run; usable once that run has succeeded
    pending_run  uuid,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, kind)
);

CREATE TABLE fetcher_photos (
    team_id      uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
    directory_id text NOT NULL,
    etag         text,                  -- NULL: the user had no photo when last checked
    checked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, directory_id)
);

CREATE TABLE fetcher_photo_cursor (
    team_id      uuid PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    after_id     text NOT NULL DEFAULT '',  -- the rotating slice resumes after this directory id
    updated_at   timestamptz NOT NULL DEFAULT now()
);
