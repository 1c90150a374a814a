-- Several hubs on one database. Each hub announces itself here while it runs (seen_at,
-- database time, refreshed with its leases): the live hubs share the subscriptions.
CREATE TABLE hubs (
  id         text        PRIMARY KEY,
  started_at timestamptz NOT NULL,
  seen_at    timestamptz NOT NULL
);

-- A subscription's webhook work is owned by one hub at a time: the one holding its lease
-- until expires_at (database time). epoch grows with every change of owner: each claim and
-- outcome checks owner and epoch (fencing), so a hub that lost the lease writes nothing
-- more for it. A new owner first puts the deliveries left in flight back in the queue.
CREATE TABLE subscription_leases (
  subscription_id text        PRIMARY KEY,
  owner           text        NOT NULL,
  epoch           bigint      NOT NULL,
  expires_at      timestamptz NOT NULL
);
CREATE INDEX subscription_leases_owner ON subscription_leases (owner);
