-- The console's pull log filtered by status ("the last 100 failures"): newest first
-- among rows of that status. Without an index, a rare status read the whole table
-- backwards (0.17 s warm for 1.5M rows, and a busy issuer logs millions a day). Only
-- answers other than Status 1 are indexed: a successful pull, nearly every one, writes
-- nothing more, and the log of Status 1 finds its rows at once anyway. The query
-- repeats the index's condition so that SQLite sees it applies. Entries are in id
-- order within a status (SQLite keys an index by rowid too).
CREATE INDEX audit_pulls_status ON audit_pulls (status) WHERE status <> 1;
