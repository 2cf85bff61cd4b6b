-- The console's pull log filtered by status ("the last 100 failures"): newest first
-- among rows of that status. Without an index, a rare status read the whole table
-- backwards (a busy issuer logs millions a day). Only answers other than Status 1 are
-- indexed: a successful pull, nearly every one, writes nothing more, and the log of
-- Status 1 finds its rows at once anyway. The query repeats the index's condition.
CREATE INDEX audit_pulls_status ON audit_pulls (status, id) WHERE status <> 1;
