import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ok, type Scope } from '../api/client';
import { useSession } from '../session';
import { Action, Field, Loadable, Secret, Table, isoOf, time, useLoad } from '../ui';

const SCOPES: Scope[] = ['read', 'publish', 'subscriptions', 'tokens', 'admin'];

export function Keys(): JSX.Element {
  const { api, isAdmin } = useSession();
  const keys = useLoad(async () => (await ok(api.GET('/v1/keys'))).keys, []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<string>();
  const [error, setError] = useState<string>();
  return (
    <>
      {created && <Secret title="The new API key" value={created} onDone={() => setCreated(undefined)} />}
      <form
        class="card form"
        aria-label="New API key"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            const key = await ok(api.POST('/v1/keys', { body: { name, scopes, expires_at: isoOf(expires) } }));
            setCreated(key.key);
            setName('');
            keys.reload();
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        <h2>New API key</h2>
        <Field label="Name"><input required value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="ci-publisher" /></Field>
        <fieldset class="row">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label class="check" key={s}>
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))} /> {s}
            </label>
          ))}
        </fieldset>
        <Field label="Expires (optional)"><input type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} /></Field>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={!isAdmin} title={isAdmin ? undefined : 'Needs an API key with scope admin'}>Create key</button>
      </form>
      <Loadable state={keys} empty="No keys besides the root key (PUSHHUB_API_KEY, never listed)." isEmpty={(k) => k.length === 0}>
        {(rows) => (
          <Table
            caption="API keys"
            rows={rows}
            rowKey={(k) => k.id}
            columns={[
              { label: 'Name', cell: (k) => k.name },
              { label: 'Key', cell: (k) => <span class="mono">{k.prefix}…</span> },
              { label: 'Scopes', cell: (k) => k.scopes.join(', ') },
              { label: 'Created', cell: (k) => time(k.created_at) },
              { label: 'Expires', cell: (k) => time(k.expires_at) },
              { label: 'Last used', cell: (k) => time(k.last_used_at) },
              {
                label: 'Actions',
                cell: (k) => (
                  <Action label="Revoke" needs="admin" danger run={async () => {
                    if (!confirm(`Revoke ${k.name} (${k.prefix}…)? It stops working at once.`)) return;
                    await ok(api.DELETE('/v1/keys/{id}', { params: { path: { id: k.id } } }));
                    keys.reload();
                    return `${k.name} revoked`;
                  }} />
                ),
              },
            ]}
          />
        )}
      </Loadable>
    </>
  );
}
