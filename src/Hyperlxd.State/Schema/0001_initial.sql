-- Server config, profiles (with the default one) and the certificate trust store.
CREATE TABLE config (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE profiles (
    name        text PRIMARY KEY,
    description text  NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}',
    devices     jsonb NOT NULL DEFAULT '{}'
);
INSERT INTO profiles (name, description) VALUES ('default', 'Default LXD profile');
CREATE TABLE certificates (
    fingerprint text PRIMARY KEY,
    name        text    NOT NULL,
    type        text    NOT NULL,
    restricted  boolean NOT NULL DEFAULT false,
    projects    jsonb   NOT NULL DEFAULT '[]',
    certificate text    NOT NULL
);
