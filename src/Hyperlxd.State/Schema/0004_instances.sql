-- Instances and their snapshots. Config, devices and the ordered profile list are jsonb, like
-- profiles; the root volume's pool is kept so that storage can be found without expanding devices.
CREATE TABLE instances (
    name         text PRIMARY KEY,
    type         text        NOT NULL,
    architecture text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    config       jsonb       NOT NULL DEFAULT '{}',
    devices      jsonb       NOT NULL DEFAULT '{}',
    profiles     jsonb       NOT NULL DEFAULT '[]',
    ephemeral    boolean     NOT NULL DEFAULT false,
    stateful     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX instances_profiles ON instances USING gin (profiles);

CREATE TABLE instance_snapshots (
    instance     text        NOT NULL REFERENCES instances (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name         text        NOT NULL,
    architecture text        NOT NULL,
    config       jsonb       NOT NULL DEFAULT '{}',
    devices      jsonb       NOT NULL DEFAULT '{}',
    profiles     jsonb       NOT NULL DEFAULT '[]',
    ephemeral    boolean     NOT NULL DEFAULT false,
    stateful     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    PRIMARY KEY (instance, name)
);
