-- An instance whose create has not finished (root volume, driver preparation): a daemon that dies
-- midway leaves the row marked, and the next start removes it with whatever was made of it.
ALTER TABLE instances ADD COLUMN creating boolean NOT NULL DEFAULT false;
