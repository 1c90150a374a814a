-- API keys. Only a SHA-256 hash of each key is kept (the key is shown once, at creation),
-- with a short prefix for people to recognise it by. Revoking deletes the row.
CREATE TABLE api_keys (
  id           TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL,
  scopes       TEXT    NOT NULL,        -- JSON array of scopes
  prefix       TEXT    NOT NULL,
  hash         TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the key
  created_at   INTEGER NOT NULL,        -- epoch ms
  expires_at   INTEGER,                 -- epoch ms; NULL = never
  last_used_at INTEGER                  -- epoch ms, to the minute; NULL = never used
) STRICT;
