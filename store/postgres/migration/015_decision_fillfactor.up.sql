-- AIFlow for Go, schema version 15: the pages of aiflow_decision are filled
-- to half, so that the upsert of a ring (migration 11), which rewrites its
-- row at every unit of work that evaluates its rule, can put the new version
-- in the same page (a heap-only update: none of the three indexes gets a
-- new entry). Filled pages left no room, every ring upsert was a full update
-- with an entry in each index, and it was the largest cost of a unit of work
-- whose events each reach one execution. Only pages written from now on
-- keep the room; start decisions (one row each, never updated) take twice
-- the space.

ALTER TABLE {schema}.aiflow_decision SET (fillfactor = 50);
