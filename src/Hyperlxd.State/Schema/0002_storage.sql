-- Storage pools, their volumes (custom, instance roots, cached images) and volume snapshots.
CREATE TABLE storage_pools (
    name        text PRIMARY KEY,
    driver      text  NOT NULL,
    description text  NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE storage_volumes (
    id           bigserial PRIMARY KEY,
    pool         text NOT NULL REFERENCES storage_pools (name) ON UPDATE CASCADE,
    name         text NOT NULL,
    type         text NOT NULL CHECK (type IN ('custom', 'container', 'virtual-machine', 'image')),
    description  text  NOT NULL DEFAULT '',
    config       jsonb NOT NULL DEFAULT '{}',
    content_type text  NOT NULL DEFAULT 'filesystem' CHECK (content_type IN ('filesystem', 'block')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pool, type, name)
);
CREATE TABLE storage_volume_snapshots (
    id          bigserial PRIMARY KEY,
    volume_id   bigint NOT NULL REFERENCES storage_volumes (id) ON DELETE CASCADE,
    name        text  NOT NULL,
    description text  NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    UNIQUE (volume_id, name)
);
