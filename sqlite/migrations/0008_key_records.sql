-- Key records (agents' signing keys and signature policies) are read in
-- every append transaction: index them apart from the rest of the log.
CREATE INDEX records_key ON records(idx) WHERE type = 'key';
