-- Custom headers a subscription sends on every delivery: a JSON object; NULL = none.
ALTER TABLE subscriptions ADD COLUMN headers text;

-- Background tasks (replays): durable, resumed after a restart where they were. One hub runs a
-- task at a time: the one whose claim (owner, until lease_until, database time in epoch ms)
-- holds; a dead hub's task is taken over once its claim lapses.
CREATE TABLE tasks (
  id              text   PRIMARY KEY,
  kind            text   NOT NULL, -- replay
  subscription_id text   NOT NULL,
  state           text   NOT NULL, -- running | succeeded | failed
  from_seq        bigint NOT NULL, -- the last log position before the range
  to_seq          bigint NOT NULL, -- the last log position of the range (the head when it was asked)
  since           bigint,          -- epoch ms: only events received at or after it; NULL = no bound
  until           bigint,          -- epoch ms: only events received before it; NULL = no bound
  position        bigint NOT NULL, -- the last log position looked at
  created         bigint NOT NULL DEFAULT 0, -- deliveries created so far
  error           text,
  owner           text,
  lease_until     bigint,
  created_at      bigint NOT NULL,
  updated_at      bigint NOT NULL
);
CREATE INDEX tasks_running ON tasks (created_at) WHERE state = 'running';
-- Replays ask whether a subscription already has a delivery of an event.
CREATE INDEX deliveries_subscription_event ON deliveries (subscription_id, event_seq);
