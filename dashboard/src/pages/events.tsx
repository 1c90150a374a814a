import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ok, type Envelope } from '../api/client';
import type { Route } from '../main';
import { useSession } from '../session';
import { Field, Loadable, Table, time, useLoad, value } from '../ui';

const SHOWN = 100;
const MAX_PAGES = 20; // a channel is read oldest first: at most 20 000 events back

/** An event: its envelope, overall status and every webhook delivery. */
function EventDetail({ id }: { id: string }): JSX.Element {
  const { api } = useSession();
  const detail = useLoad(() => ok(api.GET('/v1/events/{id}', { params: { path: { id } } })), [id], 3000);
  return (
    <section class="card" aria-label={`Event ${id}`}>
      <Loadable state={detail} empty="">
        {({ event, status, deliveries }) => (
          <>
            <h2>Event <span class="mono">{event.id}</span> <span class={`badge status-${status}`}>{status}</span></h2>
            <p><span class="mono">{event.channel}</span> · <span class="mono">{event.type}</span> · {time(event.occurred_at)}</p>
            <pre class="json">{JSON.stringify(event.data, null, 2)}</pre>
            {deliveries.length === 0 ? (
              <p class="muted empty">No webhook deliveries.</p>
            ) : (
              <Table
                caption={`Deliveries of ${event.id}`}
                rows={deliveries}
                rowKey={(d) => d.id}
                columns={[
                  { label: 'Delivery', cell: (d) => <a class="mono" href={`#/deliveries?subscription_id=${d.subscription_id}`}>{d.id}</a> },
                  { label: 'Subscription', cell: (d) => <span class="mono">{d.subscription_id}</span> },
                  { label: 'State', cell: (d) => <span class={`badge state-${d.state}`}>{d.state}</span> },
                  { label: 'Attempts', cell: (d) => d.attempts },
                  { label: 'Last status', cell: (d) => value(d.last_status) },
                  { label: 'Last error', cell: (d) => value(d.last_error) },
                ]}
              />
            )}
          </>
        )}
      </Loadable>
    </section>
  );
}

/** The newest events of a channel (optionally of one type), newest first. */
function ChannelEvents({ channel, type, onOpen }: { channel: string; type: string; onOpen: (id: string) => void }): JSX.Element {
  const { api } = useSession();
  const events = useLoad(async () => {
    let shown: Envelope[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await ok(api.GET('/v1/channels/{channel}/events', { params: { path: { channel }, query: { after, limit: '1000' } } }));
      shown = [...shown, ...result.events.filter((e) => !type || e.type === type)].slice(-SHOWN);
      after = result.next_cursor;
      if (!result.has_more) break;
    }
    return shown.reverse();
  }, [channel, type]);
  return (
    <Loadable state={events} empty={`No events on ${channel}${type ? ` of type ${type}` : ''}.`} isEmpty={(d) => d.length === 0}>
      {(rows) => (
        <Table
          caption={`Events of ${channel}`}
          rows={rows}
          rowKey={(e) => e.id}
          columns={[
            { label: 'Event', cell: (e) => <button type="button" class="link mono" onClick={() => onOpen(e.id)}>{e.id}</button> },
            { label: 'Type', cell: (e) => <span class="mono">{e.type}</span> },
            { label: 'Occurred', cell: (e) => time(e.occurred_at) },
            { label: 'Data', cell: (e) => <code class="excerpt">{JSON.stringify(e.data).slice(0, 120)}</code> },
          ]}
        />
      )}
    </Loadable>
  );
}

export function Events({ route }: { route: Route }): JSX.Element {
  const [id, setId] = useState(route.params.get('id') ?? '');
  const [openId, setOpenId] = useState(route.params.get('id') ?? '');
  const [channel, setChannel] = useState('');
  const [type, setType] = useState('');
  const [query, setQuery] = useState<{ channel: string; type: string }>();
  return (
    <>
      <div class="split">
        <form class="card form" aria-label="Find an event" onSubmit={(e) => { e.preventDefault(); setOpenId(id.trim()); }}>
          <Field label="Event id"><input value={id} required onInput={(e) => setId(e.currentTarget.value)} placeholder="evt_…" /></Field>
          <button type="submit">Find</button>
        </form>
        <form class="card form" aria-label="Events of a channel" onSubmit={(e) => { e.preventDefault(); setQuery({ channel: channel.trim(), type: type.trim() }); }}>
          <Field label="Channel"><input value={channel} required onInput={(e) => setChannel(e.currentTarget.value)} placeholder="orders" /></Field>
          <Field label="Type" hint="Exact type; empty: every type."><input value={type} onInput={(e) => setType(e.currentTarget.value)} placeholder="order.created" /></Field>
          <button type="submit">Show events</button>
        </form>
      </div>
      {openId && <EventDetail key={openId} id={openId} />}
      {query ? <ChannelEvents channel={query.channel} type={query.type} onOpen={(e) => { setId(e); setOpenId(e); }} /> : !openId && <p class="muted empty">Find an event by id, or list a channel's newest events.</p>}
    </>
  );
}
