-- The image store: one row per image (LXD's fields) and the aliases that point at images.
CREATE TABLE images (
    fingerprint   text PRIMARY KEY,
    filename      text        NOT NULL DEFAULT '',
    size          bigint      NOT NULL,
    public        boolean     NOT NULL DEFAULT false,
    auto_update   boolean     NOT NULL DEFAULT false,
    architecture  text        NOT NULL,
    type          text        NOT NULL DEFAULT 'container',
    properties    jsonb       NOT NULL DEFAULT '{}',
    profiles      jsonb       NOT NULL DEFAULT '["default"]',
    created_at    timestamptz NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    cached        boolean     NOT NULL DEFAULT false,
    update_source jsonb
);
CREATE TABLE image_aliases (
    name        text PRIMARY KEY,
    fingerprint text NOT NULL REFERENCES images (fingerprint) ON DELETE CASCADE,
    description text NOT NULL DEFAULT '',
    type        text NOT NULL DEFAULT 'container'
);
CREATE INDEX image_aliases_fingerprint ON image_aliases (fingerprint);
