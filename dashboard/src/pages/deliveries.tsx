import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ok, type Delivery } from '../api/client';
import type { Route } from '../main';
import { useSession } from '../session';
import { Action, Field, Loadable, Table, isoOf, time, useLoad, value } from '../ui';

const STATES = ['pending', 'in_flight', 'succeeded', 'retrying', 'dead', 'cancelled'] as const;
type State = (typeof STATES)[number];
const PAGE = 100;
const MAX_PAGES = 10;

/** One delivery with every attempt: status, duration, error, the start of the response. */
function DeliveryDetail({ id, onChanged }: { id: string; onChanged: () => void }): JSX.Element {
  const { api } = useSession();
  const detail = useLoad(() => ok(api.GET('/v1/deliveries/{id}', { params: { path: { id } } })), [id], 3000);
  return (
    <section class="card" aria-label={`Delivery ${id}`}>
      <Loadable state={detail} empty="">
        {(d) => (
          <>
            <h2>Delivery <span class="mono">{d.id}</span></h2>
            <p>
              <span class={`badge state-${d.state}`}>{d.state}</span> · event <a class="mono" href={`#/events?id=${d.event_id}`}>{d.event_id}</a> · subscription{' '}
              <span class="mono">{d.subscription_id}</span> · {d.attempts.length} attempts · next {time(d.next_attempt_at)}
            </p>
            <div class="row"><Action label="Retry" disabledReason={d.state === 'in_flight' ? 'In flight' : undefined} run={async () => { await ok(api.POST('/v1/deliveries/{id}/retry', { params: { path: { id } } })); detail.reload(); onChanged(); return `${id} requeued`; }} /></div>
            {d.attempts.length === 0 ? (
              <p class="muted empty">No attempt yet.</p>
            ) : (
              <Table
                caption={`Attempts of ${d.id}`}
                rows={d.attempts}
                rowKey={(a) => String(a.n)}
                columns={[
                  { label: '#', cell: (a) => a.n },
                  { label: 'At', cell: (a) => time(a.at) },
                  { label: 'Status', cell: (a) => value(a.status) },
                  { label: 'Duration', cell: (a) => `${a.duration_ms} ms` },
                  { label: 'Error', cell: (a) => value(a.error) },
                  { label: 'Response', cell: (a) => (a.response_body ? <code class="excerpt">{a.response_body.slice(0, 300)}</code> : '—') },
                ]}
              />
            )}
          </>
        )}
      </Loadable>
    </section>
  );
}

/** Deliveries newest first, filtered by subscription and state on the hub, and by time here. */
export function Deliveries({ route }: { route: Route }): JSX.Element {
  const { api } = useSession();
  const [subscription, setSubscription] = useState(route.params.get('subscription_id') ?? '');
  const [state, setState] = useState(route.params.get('state') ?? '');
  const [since, setSince] = useState('');
  const [pages, setPages] = useState(1);
  const [open, setOpen] = useState<string>();
  const subs = useLoad(async () => (await ok(api.GET('/v1/subscriptions'))).subscriptions, []);
  const deliveries = useLoad(
    async () => {
      const from = isoOf(since);
      const rows: Delivery[] = [];
      let after: string | undefined;
      let more = false;
      for (let page = 0; page < pages; page++) {
        const query = { subscription_id: subscription || undefined, state: (state || undefined) as State | undefined, limit: String(PAGE), after };
        const result = await ok(api.GET('/v1/deliveries', { params: { query } }));
        rows.push(...result.deliveries);
        after = result.next_cursor ?? undefined;
        more = after !== undefined;
        if (!more || (from && rows.at(-1)!.created_at < from)) break;
      }
      return { rows: from ? rows.filter((d) => d.created_at >= from) : rows, more: more && !(from && rows.at(-1)!.created_at < from) };
    },
    [subscription, state, since, pages],
    2000,
  );
  return (
    <>
      <form class="filters" aria-label="Filter deliveries" onSubmit={(e) => e.preventDefault()}>
        <Field label="Subscription">
          <select value={subscription} onChange={(e) => { setSubscription(e.currentTarget.value); setPages(1); }}>
            <option value="">All</option>
            {subscription && !subs.data?.some((s) => s.id === subscription) && <option value={subscription}>{subscription}</option>}
            {subs.data?.map((s) => <option key={s.id} value={s.id}>{s.url} ({s.id})</option>)}
          </select>
        </Field>
        <Field label="State">
          <select value={state} onChange={(e) => { setState(e.currentTarget.value); setPages(1); }}>
            <option value="">Any</option>
            {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        <Field label="Since">
          <input type="datetime-local" step="1" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </Field>
      </form>
      {open && <DeliveryDetail id={open} onChanged={deliveries.reload} />}
      <Loadable state={deliveries} empty="No deliveries match." isEmpty={(d) => d.rows.length === 0}>
        {({ rows, more }) => (
          <>
            <Table
              caption="Deliveries"
              rows={rows}
              rowKey={(d) => d.id}
              selected={open}
              columns={[
                { label: 'Delivery', cell: (d) => <button type="button" class="link mono" aria-expanded={open === d.id} onClick={() => setOpen(open === d.id ? undefined : d.id)}>{d.id}</button> },
                { label: 'State', cell: (d) => <span class={`badge state-${d.state}`}>{d.state}</span> },
                { label: 'Attempts', cell: (d) => d.attempts },
                { label: 'Last status', cell: (d) => value(d.last_status) },
                { label: 'Last error', cell: (d) => value(d.last_error) },
                { label: 'Event', cell: (d) => <a class="mono" href={`#/events?id=${d.event_id}`}>{d.event_id}</a> },
                ...(subscription ? [] : [{ label: 'Subscription', cell: (d: Delivery) => <span class="mono">{d.subscription_id}</span> }]),
                { label: 'Created', cell: (d) => time(d.created_at) },
                { label: 'Next attempt', cell: (d) => time(d.next_attempt_at) },
                { label: 'Actions', cell: (d) => <Action label="Retry" disabledReason={d.state === 'in_flight' ? 'In flight' : undefined} run={async () => { await ok(api.POST('/v1/deliveries/{id}/retry', { params: { path: { id: d.id } } })); deliveries.reload(); return `${d.id} requeued`; }} /> },
              ]}
            />
            {more && pages < MAX_PAGES && <button type="button" onClick={() => setPages(pages + 1)}>Load more</button>}
          </>
        )}
      </Loadable>
    </>
  );
}
