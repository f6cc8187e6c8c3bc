-- Placeholder for the storage branch's schema step 0002 (dropped at merge; the storage branch owns 0002).
SELECT 1;
