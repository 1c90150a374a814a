-- API keys. Only a SHA-256 hash of each key is kept (the key is shown once, at creation),
-- with a short prefix for people to recognise it by. Revoking deletes the row.
CREATE TABLE api_keys (
  id           text   PRIMARY KEY,
  name         text   NOT NULL,
  scopes       text   NOT NULL,        -- JSON array of scopes
  prefix       text   NOT NULL,
  hash         text   NOT NULL UNIQUE, -- hex SHA-256 of the key
  created_at   bigint NOT NULL,        -- epoch ms
  expires_at   bigint,                 -- epoch ms; NULL = never
  last_used_at bigint                  -- epoch ms, to the minute; NULL = never used
);
-- Bumped by every creation and revocation of a key: each hub reloads its keys when it moves
-- (besides the 'keys' notification), so a revoked key is refused everywhere within a poll.
ALTER TABLE log_head ADD COLUMN keys_version bigint NOT NULL DEFAULT 0;
