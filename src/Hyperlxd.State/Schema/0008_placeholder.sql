-- Placeholder on the monitoring branch only: the projects helper owns migration 0008 and the
-- schema steps must be numbered without gaps. At merge, DELETE THIS FILE in favour of the projects
-- helper's 0008 (it has no effect: nothing was ever created here).
SELECT 1;
