-- Webhook subscriptions. Secrets are kept in clear: the hub must sign with them.
CREATE TABLE subscriptions (
  id                         text     PRIMARY KEY,
  url                        text     NOT NULL,
  channels                   text     NOT NULL, -- JSON array of patterns
  types                      text,              -- JSON array of patterns; NULL = every type
  description                text,
  ordered                    boolean  NOT NULL,
  max_in_flight              integer  NOT NULL,
  rate_limit_per_s           double precision,  -- NULL = no limit
  signature_scheme           text     NOT NULL, -- standard | stripe
  retry                      text,              -- JSON of the API's retry override; NULL = hub policy
  secret                     text     NOT NULL,
  previous_secret            text,
  previous_secret_expires_at bigint,            -- epoch ms
  enabled                    boolean  NOT NULL,
  disabled_reason            text,              -- manual | gone | failing
  created_at                 bigint   NOT NULL, -- epoch ms
  updated_at                 bigint   NOT NULL  -- epoch ms
);
-- Bumped by every change to a subscription: each hub reloads its subscription index when it
-- moves, and an append built on an older index is refused and rebuilt.
ALTER TABLE log_head ADD COLUMN subscriptions_version bigint NOT NULL DEFAULT 0;

-- The outbox: one row per (event, matching subscription), written by the event's append.
-- An ordered subscription's queue is in event_seq order (seq breaks ties: a bigserial is not
-- commit-ordered across hubs, event_seq is). No foreign keys: a delivery
-- outlives a deleted subscription (as `cancelled`, for the record).
CREATE TABLE deliveries (
  seq              bigserial PRIMARY KEY,
  id               text      NOT NULL UNIQUE,
  subscription_id  text      NOT NULL,
  event_id         text      NOT NULL,
  event_seq        bigint    NOT NULL,
  -- pending | in_flight | retrying | succeeded | dead | cancelled
  state            text      NOT NULL,
  attempts         integer   NOT NULL DEFAULT 0, -- all attempts ever made
  cycle_attempts   integer   NOT NULL DEFAULT 0, -- attempts since last queued (retry budget)
  cycle_started_at bigint,                       -- first attempt since last queued, epoch ms
  next_attempt_at  bigint    NOT NULL,           -- epoch ms; meaningful while pending/retrying
  last_status      integer,
  last_error       text,
  created_at       bigint    NOT NULL,
  updated_at       bigint    NOT NULL,
  completed_at     bigint                        -- when it became succeeded/dead/cancelled
);
CREATE INDEX deliveries_due ON deliveries (subscription_id, next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_queue ON deliveries (subscription_id, event_seq) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_in_flight ON deliveries (subscription_id) WHERE state = 'in_flight';
CREATE INDEX deliveries_done ON deliveries (completed_at) WHERE state IN ('succeeded', 'dead', 'cancelled');
CREATE INDEX deliveries_dead ON deliveries (seq) WHERE state = 'dead';
CREATE INDEX deliveries_dead_by_subscription ON deliveries (subscription_id, seq) WHERE state = 'dead';
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, seq);

-- Every attempt of a delivery, oldest first.
CREATE TABLE delivery_attempts (
  delivery_seq  bigint  NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
  n             integer NOT NULL, -- 1-based, as sent in x-pushhub-attempt
  at            bigint  NOT NULL, -- epoch ms when the request started
  duration_ms   integer NOT NULL,
  status        integer,          -- NULL: no response (timeout, connection error)
  error         text,
  response_body text,             -- the first bytes of the response
  PRIMARY KEY (delivery_seq, n)
);

-- Idempotency-Key → the response first given for it. A hub claims a key (claimed_by, until
-- claimed_until, epoch ms) before it commits the request's events, so one key makes one
-- event whichever hub each request reaches; the append that commits the events saves the
-- response: its template (JSON: text pieces and the event indexes whose cursors go between
-- them) and the position before its first event, from which the cursors are filled in.
CREATE TABLE idempotency_keys (
  key               text   PRIMARY KEY,
  fingerprint       text   NOT NULL,
  response_template text,           -- NULL while claimed, not yet committed
  response_base     bigint,
  claimed_by        text,
  claimed_until     bigint,
  created_at        bigint NOT NULL  -- epoch ms
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
