-- Webhook subscriptions. Secrets are kept in clear: the hub must sign with them.
CREATE TABLE subscriptions (
  id                         TEXT    PRIMARY KEY,
  url                        TEXT    NOT NULL,
  channels                   TEXT    NOT NULL, -- JSON array of patterns
  types                      TEXT,             -- JSON array of patterns; NULL = every type
  description                TEXT,
  ordered                    INTEGER NOT NULL, -- 0 | 1
  max_in_flight              INTEGER NOT NULL,
  rate_limit_per_s           REAL,             -- NULL = no limit
  signature_scheme           TEXT    NOT NULL, -- standard | stripe
  retry                      TEXT,             -- JSON of the API's retry override; NULL = hub policy
  secret                     TEXT    NOT NULL,
  previous_secret            TEXT,
  previous_secret_expires_at INTEGER,          -- epoch ms
  enabled                    INTEGER NOT NULL, -- 0 | 1
  disabled_reason            TEXT,             -- manual | gone | failing
  created_at                 INTEGER NOT NULL, -- epoch ms
  updated_at                 INTEGER NOT NULL  -- epoch ms
) STRICT;

-- The outbox: one row per (event, matching subscription), written in the event's
-- transaction. seq orders rows by creation, hence by event cursor within a subscription.
-- No foreign keys: a delivery outlives a deleted subscription (as `cancelled`, for the record).
CREATE TABLE deliveries (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT    NOT NULL UNIQUE,
  subscription_id  TEXT    NOT NULL,
  event_id         TEXT    NOT NULL,
  event_seq        INTEGER NOT NULL,
  -- pending | in_flight | retrying | succeeded | dead | cancelled
  state            TEXT    NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0, -- all attempts ever made
  cycle_attempts   INTEGER NOT NULL DEFAULT 0, -- attempts since last queued (retry budget)
  cycle_started_at INTEGER,                    -- first attempt since last queued, epoch ms
  next_attempt_at  INTEGER NOT NULL,           -- epoch ms; meaningful while pending/retrying
  last_status      INTEGER,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  completed_at     INTEGER                     -- when it became succeeded/dead/cancelled
) STRICT;
-- Indexes that the life of every delivery touches are kept few: a state change only
-- updates the partial indexes whose condition it enters or leaves.
-- Due work of a subscription (unordered claims).
CREATE INDEX deliveries_due ON deliveries (subscription_id, next_attempt_at)
  WHERE state IN ('pending', 'retrying');
-- Queue head of a subscription (ordered claims).
CREATE INDEX deliveries_queue ON deliveries (subscription_id, seq)
  WHERE state IN ('pending', 'retrying');
-- Finished rows, for retention.
CREATE INDEX deliveries_done ON deliveries (completed_at)
  WHERE state IN ('succeeded', 'dead', 'cancelled');
-- The dead-letter queue, newest first, across and per subscription.
CREATE INDEX deliveries_dead ON deliveries (seq) WHERE state = 'dead';
CREATE INDEX deliveries_dead_by_subscription ON deliveries (subscription_id, seq) WHERE state = 'dead';
-- Written once, at insert.
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, seq);

-- Every attempt of a delivery, oldest first.
CREATE TABLE delivery_attempts (
  delivery_seq  INTEGER NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
  n             INTEGER NOT NULL, -- 1-based, as sent in x-pushhub-attempt
  at            INTEGER NOT NULL, -- epoch ms when the request started
  duration_ms   INTEGER NOT NULL,
  status        INTEGER,          -- NULL: no response (timeout, connection error)
  error         TEXT,
  response_body TEXT,             -- the first bytes of the response
  PRIMARY KEY (delivery_seq, n)
) STRICT, WITHOUT ROWID;
