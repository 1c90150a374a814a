-- The head of the log, one row: the last position handed out, the cursor epoch of this
-- database, how far retention pruned. Every append takes the next positions from here with
-- UPDATE … RETURNING: the row lock it holds until commit serialises appends, so position
-- order is commit order and a reader never sees position 11 before 10 (a sequence would not
-- give that: nextval is not transactional), and a rolled-back append gives its numbers back.
CREATE TABLE log_head (
  id             boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq            bigint  NOT NULL DEFAULT 0,
  epoch          text    NOT NULL,
  pruned_through bigint  NOT NULL DEFAULT 0
);

-- The event log. seq is the position a cursor encodes. data is JSON text, carried as the
-- publisher sent it (jsonb would reorder keys and drop duplicates).
CREATE TABLE events (
  seq         bigint PRIMARY KEY,
  id          text   NOT NULL UNIQUE,
  channel     text   NOT NULL,
  type        text   NOT NULL,
  occurred_at bigint NOT NULL, -- epoch ms
  received_at bigint NOT NULL, -- epoch ms
  data        text   NOT NULL
);
CREATE INDEX events_channel_seq ON events (channel, seq);
