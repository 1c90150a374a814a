-- Settings of this database: its cursor epoch, how far retention has pruned the log.
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- The event log. seq is the log position a cursor encodes; AUTOINCREMENT so a position is
-- never reused, even after retention empties the table.
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT    NOT NULL UNIQUE,
  channel     TEXT    NOT NULL,
  type        TEXT    NOT NULL,
  occurred_at INTEGER NOT NULL, -- epoch ms
  received_at INTEGER NOT NULL, -- epoch ms
  data        TEXT    NOT NULL  -- JSON text
) STRICT;
CREATE INDEX events_channel_seq ON events (channel, seq);

-- Idempotency-Key → the response first given for it.
CREATE TABLE idempotency_keys (
  key         TEXT    PRIMARY KEY,
  fingerprint TEXT    NOT NULL,
  response    TEXT    NOT NULL, -- JSON body of the 202
  created_at  INTEGER NOT NULL  -- epoch ms
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
