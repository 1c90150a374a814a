import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ok, type Delivery, type Subscription, type Task } from '../api/client';
import { metric, scrapeMetrics } from '../live';
import { useSession } from '../session';
import { Action, Field, Loadable, Secret, Table, isoOf, list, useLoad, useNotify, value } from '../ui';

const NOT_ON_THIS_HUB = 'This hub does not offer it yet';

/** From the last 50 finished deliveries (succeeded or dead), the newest failing one, and the gauges. */
interface Health {
  successRate: number | null;
  lastError: string | null;
  dead: number;
  pending: number;
}

function SubscriptionForm({ editing, onSaved, onCancel }: { editing?: Subscription; onSaved: (secret?: string) => void; onCancel?: () => void }): JSX.Element {
  const { api, canWrite } = useSession();
  const [url, setUrl] = useState(editing?.url ?? '');
  const [channels, setChannels] = useState(editing?.channels.join(', ') ?? '');
  const [types, setTypes] = useState(editing?.types?.join(', ') ?? '');
  const [description, setDescription] = useState(editing?.description ?? '');
  const [ordered, setOrdered] = useState(editing?.ordered ?? false);
  const [scheme, setScheme] = useState<Subscription['signature_scheme']>(editing?.signature_scheme ?? 'standard');
  const [retry, setRetry] = useState(editing?.retry ? JSON.stringify(editing.retry) : '');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body = {
        url,
        channels: list(channels),
        types: list(types).length ? list(types) : null,
        description: description || null,
        ordered,
        signature_scheme: scheme,
        retry: retry.trim() ? (JSON.parse(retry) as Subscription['retry']) : null,
      };
      if (editing) {
        await ok(api.PATCH('/v1/subscriptions/{id}', { params: { path: { id: editing.id } }, body }));
        onSaved();
      } else {
        const created = await ok(api.POST('/v1/subscriptions', { body }));
        onSaved(created.secret);
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const title = editing ? `Edit ${editing.id}` : 'New subscription';
  return (
    <form class="card form" onSubmit={submit} aria-label={title}>
      <h2>{title}</h2>
      <Field label="URL" hint="http(s); the hub POSTs each event here, signed.">
        <input type="url" required value={url} onInput={(e) => setUrl(e.currentTarget.value)} placeholder="https://example.com/webhooks" />
      </Field>
      <Field label="Channels" hint={<>Comma-separated patterns: <code>orders</code> exactly, <code>orders.*</code> one more segment (orders.eu), <code>orders.&gt;</code> one or more (orders.eu, orders.eu.x). <code>$hub.…</code> channels only when named.</>}>
        <input required value={channels} onInput={(e) => setChannels(e.currentTarget.value)} placeholder="orders, billing.>" />
      </Field>
      <Field label="Types" hint="Comma-separated type patterns (order.*); empty: every type.">
        <input value={types} onInput={(e) => setTypes(e.currentTarget.value)} placeholder="order.*" />
      </Field>
      <Field label="Description">
        <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <div class="row">
        <label class="check"><input type="checkbox" checked={ordered} onChange={(e) => setOrdered(e.currentTarget.checked)} /> Ordered (one delivery in flight at a time)</label>
        <Field label="Signature scheme">
          <select value={scheme} onChange={(e) => setScheme(e.currentTarget.value as Subscription['signature_scheme'])}>
            <option value="standard">standard (Standard Webhooks)</option>
            <option value="stripe">stripe</option>
          </select>
        </Field>
      </div>
      <Field label="Retry policy" hint={<>Optional JSON overriding the hub's policy, e.g. <code>{'{"max_attempts": 5, "initial_delay_ms": 1000}'}</code> (also factor, max_delay_ms, max_age_s, timeout_ms, schedule_ms).</>}>
        <input class="mono" value={retry} onInput={(e) => setRetry(e.currentTarget.value)} placeholder="hub default" />
      </Field>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="row">
        <button type="submit" disabled={busy || !canWrite} title={canWrite ? undefined : 'Needs an API key with scope subscriptions'}>{editing ? 'Save' : 'Create subscription'}</button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

/** Replay since… (a task, followed until done). */
function ReplayPanel({ sub, onClose }: { sub: Subscription; onClose: () => void }): JSX.Element {
  const { api } = useSession();
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [task, setTask] = useState<Task>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!task || task.state !== 'running') return;
    const timer = setTimeout(() => void ok(api.GET('/v1/tasks/{id}', { params: { path: { id: task.id } } })).then(setTask, (err: Error) => setError(err.message)), 1000);
    return () => clearTimeout(timer);
  }, [task, api]);
  return (
    <form
      class="card form"
      aria-label={`Replay ${sub.id}`}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          const accepted = await ok(api.POST('/v1/subscriptions/{id}/replay', { params: { path: { id: sub.id } }, body: { since: isoOf(since), until: isoOf(until) } }));
          setTask(await ok(api.GET('/v1/tasks/{id}', { params: { path: { id: accepted.task_id } } })));
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h2>Replay to {sub.url}</h2>
      <p class="muted">Creates a delivery for every retained event in the window that matches and has none for this subscription yet, oldest first.</p>
      <div class="row">
        <Field label="Since"><input type="datetime-local" step="1" required value={since} onInput={(e) => setSince(e.currentTarget.value)} /></Field>
        <Field label="Until (optional)"><input type="datetime-local" step="1" value={until} onInput={(e) => setUntil(e.currentTarget.value)} /></Field>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {task && <p role="status">Task {task.id}: {task.state}, {task.done}{task.total != null ? ` of ${task.total}` : ''} done{task.error ? ` (${task.error})` : ''}</p>}
      <div class="row">
        <button type="submit">Start replay</button>
        <button type="button" onClick={onClose}>Close</button>
      </div>
    </form>
  );
}

export function Subscriptions(): JSX.Element {
  const session = useSession();
  const { api, features } = session;
  const notify = useNotify();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Subscription>();
  const [replaying, setReplaying] = useState<Subscription>();
  const [secret, setSecret] = useState<{ title: string; value: string }>();

  const subs = useLoad(async () => (await ok(api.GET('/v1/subscriptions'))).subscriptions, [], 5000);
  const ids = (subs.data ?? []).slice(0, 50).map((s) => s.id);
  const health = useLoad(
    async () => {
      const metrics = await scrapeMetrics();
      const recent = (id: string, state: Delivery['state']) =>
        ok(api.GET('/v1/deliveries', { params: { query: { subscription_id: id, state, limit: '50' } } })).then((page) => page.deliveries);
      const newest = (a: Delivery, b: Delivery): number => b.updated_at.localeCompare(a.updated_at);
      const entries = await Promise.all(
        ids.map(async (id): Promise<[string, Health]> => {
          const [succeeded, dead, retrying] = await Promise.all([recent(id, 'succeeded'), recent(id, 'dead'), recent(id, 'retrying')]);
          const finished = [...succeeded, ...dead].sort(newest).slice(0, 50);
          const failed = [...dead, ...retrying].sort(newest)[0];
          const match = `subscription_id="${id}"`;
          return [id, {
            successRate: finished.length ? finished.filter((d) => d.state === 'succeeded').length / finished.length : null,
            lastError: failed ? (failed.last_error ?? `HTTP ${failed.last_status}`) : null,
            dead: metric(metrics, 'pushhub_webhook_deliveries_dead', match),
            pending: metric(metrics, 'pushhub_webhook_deliveries_pending', match),
          }];
        }),
      );
      return new Map(entries);
    },
    [ids.join(' ')],
    10_000,
  );

  const changed = (text?: string): string | undefined => {
    subs.reload();
    return text;
  };
  const patch = async (s: Subscription, enabled: boolean): Promise<string | undefined> => {
    await ok(api.PATCH('/v1/subscriptions/{id}', { params: { path: { id: s.id } }, body: { enabled } }));
    return changed(`${s.id} ${enabled ? 'enabled' : 'paused'}`);
  };
  const path = (s: Subscription) => ({ params: { path: { id: s.id } } });

  return (
    <>
      {secret && <Secret title={secret.title} value={secret.value} onDone={() => setSecret(undefined)} />}
      <div class="row">
        <Action label="New subscription" run={async () => { setEditing(undefined); setCreating(true); }} />
      </div>
      {(creating || editing) && (
        <SubscriptionForm
          key={editing?.id ?? 'new'}
          editing={editing}
          onCancel={() => { setCreating(false); setEditing(undefined); }}
          onSaved={(s) => {
            if (s) setSecret({ title: 'Signing secret of the new subscription', value: s });
            notify({ kind: 'info', text: editing ? `${editing.id} saved` : 'Subscription created' });
            setCreating(false);
            setEditing(undefined);
            subs.reload();
          }}
        />
      )}
      {replaying && <ReplayPanel sub={replaying} onClose={() => setReplaying(undefined)} />}
      <Loadable state={subs} empty="No subscriptions yet." isEmpty={(d) => d.length === 0}>
        {(rows) => (
          <Table
            caption="Subscriptions"
            rows={rows}
            rowKey={(s) => s.id}
            columns={[
              { label: 'Subscription', cell: (s) => <><div class="url">{s.url}</div><div class="muted mono">{s.id}</div>{s.description && <div>{s.description}</div>}</> },
              { label: 'Channels', cell: (s) => <><div class="mono">{s.channels.join(' ')}</div><div class="muted mono">{s.types?.join(' ') ?? 'all types'}</div></> },
              { label: 'State', cell: (s) => (s.enabled ? <span class="badge ok">enabled</span> : <span class="badge warn">paused ({s.disabled_reason})</span>) },
              { label: 'Health', cell: (s) => <HealthCell health={health.data?.get(s.id)} id={s.id} /> },
              {
                label: 'Actions',
                cell: (s) => (
                  <div class="actions">
                    <Action label="Edit" run={async () => { setCreating(false); setEditing(s); }} />
                    {s.enabled ? <Action label="Pause" run={() => patch(s, false)} /> : <Action label="Enable" run={() => patch(s, true)} />}
                    <Action label="Rotate secret" run={async () => {
                      const { secret: value } = await ok(api.POST('/v1/subscriptions/{id}/rotate-secret', path(s)));
                      setSecret({ title: `New signing secret of ${s.id} (the previous one still signs for 24 h)`, value });
                      return changed();
                    }} />
                    <Action label="Send test event" disabledReason={features.testEvent ? undefined : NOT_ON_THIS_HUB} run={async () => {
                      const sent = await ok(api.POST('/v1/subscriptions/{id}/test', { ...path(s), body: {} }));
                      return changed(`Test event ${sent.event_id} sent (delivery ${sent.delivery_id})`);
                    }} />
                    <Action label="Replay" disabledReason={features.replay ? undefined : NOT_ON_THIS_HUB} run={async () => setReplaying(s)} />
                    <Action label="Redrive" run={async () => {
                      const { requeued } = await ok(api.POST('/v1/subscriptions/{id}/redrive', { ...path(s), body: { state: 'dead' } }));
                      return changed(`${requeued} dead deliveries of ${s.id} requeued`);
                    }} />
                    <a class="button" href={`#/deliveries?subscription_id=${s.id}`}>Deliveries</a>
                    <Action label="Delete" danger run={async () => {
                      if (!confirm(`Delete ${s.url} (${s.id})? Its pending deliveries go with it.`)) return;
                      await ok(api.DELETE('/v1/subscriptions/{id}', path(s)));
                      return changed(`${s.id} deleted`);
                    }} />
                  </div>
                ),
              },
            ]}
          />
        )}
      </Loadable>
    </>
  );
}

function HealthCell({ health, id }: { health: Health | undefined; id: string }): JSX.Element {
  if (!health) return <span class="muted">…</span>;
  const rate = health.successRate === null ? '—' : `${Math.round(health.successRate * 100)} %`;
  return (
    <div class="health">
      <div>success {rate}</div>
      <div>
        <a href={`#/deliveries?subscription_id=${id}&state=pending`}>{health.pending} pending</a> · <a href={`#/deliveries?subscription_id=${id}&state=dead`}>{health.dead} dead</a>
      </div>
      {health.lastError && <div class="error small" title={health.lastError}>last error: {value(health.lastError)}</div>}
    </div>
  );
}

