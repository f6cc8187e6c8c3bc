-- Instance backups (LXD's instances_backups): the tarball lives under the state dir
-- (backups/instances/<instance>/<name>); the row goes and is renamed with its instance.
CREATE TABLE instance_backups (
    instance          text        NOT NULL REFERENCES instances (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name              text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    instance_only     boolean     NOT NULL DEFAULT false,
    optimized_storage boolean     NOT NULL DEFAULT false,
    compression       text        NOT NULL DEFAULT '',
    PRIMARY KEY (instance, name)
);
