-- The sequencer reads and writes the state of every row each batch touches
-- by its key; a jsonb key made each search of the primary key's index
-- compare jsonb values (and the sequencer's keys be parsed as jsonb first),
-- the largest part of the sequencer's time in PostgreSQL. The key is now the
-- text PostgreSQL prints for the key as a jsonb object, such as {"id": 42}
-- (jsonb_build_object(…)::text: keys in jsonb's order, ", " and ": " as
-- separators), compared byte by byte. The sequencer writes the same text
-- from the row images it receives; baselines and verify --live build it in
-- SQL.
ALTER TABLE row_state ALTER COLUMN pk TYPE text COLLATE "C" USING pk::text;
