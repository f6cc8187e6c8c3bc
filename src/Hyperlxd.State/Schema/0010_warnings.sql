-- Warnings (LXD's /1.0/warnings): one row per (type, project, entity); raising it again bumps
-- count and last_seen_at rather than adding a row. Status: new, acknowledged, resolved.
CREATE TABLE warnings (
    uuid          text        PRIMARY KEY,
    project       text        NOT NULL DEFAULT '',
    entity_url    text        NOT NULL DEFAULT '',
    type          text        NOT NULL,
    severity      text        NOT NULL,
    status        text        NOT NULL DEFAULT 'new',
    count         integer     NOT NULL DEFAULT 1,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_message  text        NOT NULL DEFAULT '',
    UNIQUE (type, project, entity_url)
);
