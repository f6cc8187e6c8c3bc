-- Projects (LXD's name, description and config); "default" always exists. Entities of other projects
-- are stored under keys that name their project (Hyperlxd.Core.ProjectKeys), so existing tables keep
-- their shape. Images are shared by fingerprint: image_projects says which projects see one; an image
-- without rows is the default project's (every image from before projects).
CREATE TABLE projects (
    name        text PRIMARY KEY,
    description text  NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}'
);
INSERT INTO projects (name, description, config) VALUES ('default', 'Default LXD project',
    '{"features.images": "true", "features.networks": "true", "features.profiles": "true", "features.storage.volumes": "true"}');
CREATE TABLE image_projects (
    fingerprint text NOT NULL REFERENCES images (fingerprint) ON DELETE CASCADE,
    project     text NOT NULL REFERENCES projects (name) ON UPDATE CASCADE,
    PRIMARY KEY (fingerprint, project)
);
CREATE INDEX image_projects_project ON image_projects (project);
