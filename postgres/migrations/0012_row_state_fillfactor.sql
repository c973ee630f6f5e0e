-- The sequencer updates a row's state each time the row changes; it keeps
-- only the digest and the log index, which no index covers. Room left on
-- each page lets PostgreSQL make those updates HOT (heap-only: the new
-- version goes on the same page and the primary key's index, on jsonb, is
-- not touched). Pages written from now on keep a fifth free; VACUUM frees
-- room on the others.
ALTER TABLE row_state SET (fillfactor = 80);
