-- Custom headers a subscription sends on every delivery: a JSON object; NULL = none.
ALTER TABLE subscriptions ADD COLUMN headers TEXT;

-- Background tasks (replays): durable, resumed after a restart where they were. One hub runs a
-- task at a time: the one whose claim (owner, until lease_until) holds.
CREATE TABLE tasks (
  id              TEXT    PRIMARY KEY,
  kind            TEXT    NOT NULL, -- replay
  subscription_id TEXT    NOT NULL,
  state           TEXT    NOT NULL, -- running | succeeded | failed
  from_seq        INTEGER NOT NULL, -- the last log position before the range
  to_seq          INTEGER NOT NULL, -- the last log position of the range (the head when it was asked)
  since           INTEGER,          -- epoch ms: only events received at or after it; NULL = no bound
  until           INTEGER,          -- epoch ms: only events received before it; NULL = no bound
  position        INTEGER NOT NULL, -- the last log position looked at
  created         INTEGER NOT NULL DEFAULT 0, -- deliveries created so far
  error           TEXT,
  owner           TEXT,             -- the hub running it
  lease_until     INTEGER,          -- epoch ms
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX tasks_running ON tasks (created_at) WHERE state = 'running';
-- Replays ask whether a subscription already has a delivery of an event.
CREATE INDEX deliveries_subscription_event ON deliveries (subscription_id, event_seq);
