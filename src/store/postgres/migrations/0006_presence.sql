-- Presence across hubs (issue 15). Each hub writes its own members and occupied channels and
-- renews presence_hubs.expires_at (database time) on a heartbeat; a hub that stops renewing
-- is swept by any other, with its rows: that is how a dead hub's members leave. Rows of an
-- expired hub not yet swept are not read as members.
CREATE TABLE presence_hubs (
  id         text        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

-- One row per (channel, sub, hub): a sub connected to two hubs is one member with two rows.
-- info is the token's info claim as JSON text, as it was when the member joined on that hub.
CREATE TABLE presence_members (
  channel   text        NOT NULL,
  sub       text        NOT NULL,
  hub_id    text        NOT NULL,
  info      text        NOT NULL,
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, sub, hub_id)
);
CREATE INDEX presence_members_hub ON presence_members (hub_id);

-- A channel some hub has a subscriber on (any subscription, member or not): the first row of a
-- channel is channel.occupied, its last gone is channel.vacated. Writers of one channel take a
-- transaction-scoped advisory lock on it, so two hubs never both see themselves first or last.
CREATE TABLE channel_occupancy (
  channel text NOT NULL,
  hub_id  text NOT NULL,
  PRIMARY KEY (channel, hub_id)
);
CREATE INDEX channel_occupancy_hub ON channel_occupancy (hub_id);
