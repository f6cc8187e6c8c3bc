-- Custom volume backups (LXD's storage_volumes_backups): the tarball lives under the state dir
-- (backups/custom/<volume id>/<name>), so a volume rename moves nothing; rows go with their volume.
CREATE TABLE storage_volume_backups (
    volume_id         bigint      NOT NULL REFERENCES storage_volumes (id) ON DELETE CASCADE,
    name              text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    volume_only       boolean     NOT NULL DEFAULT false,
    optimized_storage boolean     NOT NULL DEFAULT false,
    compression       text        NOT NULL DEFAULT '',
    PRIMARY KEY (volume_id, name)
);
