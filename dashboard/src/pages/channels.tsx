import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ok, type Envelope } from '../api/client';
import { follow, type LiveFrame } from '../live';
import { useSession } from '../session';
import { Field, Loadable, Table, list, time, useLoad } from '../ui';

const KEEP = 200;

/** Who is on a channel (GET /v1/channels/<channel>/presence), refreshed every 2 s. */
function Presence({ channel }: { channel: string }): JSX.Element {
  const { api } = useSession();
  const presence = useLoad(() => ok(api.GET('/v1/channels/{channel}/presence', { params: { path: { channel } } })), [channel], 2000);
  return (
    <section class="card" aria-label={`Presence on ${channel}`}>
      <h2>Presence on <span class="mono">{channel}</span></h2>
      <Loadable state={presence} empty="Nobody is on this channel." isEmpty={(p) => p.count === 0}>
        {(p) => (
          <>
            <p>{p.count} member{p.count === 1 ? '' : 's'}{'truncated' in p && p.truncated ? ' (too many to list)' : ''}</p>
            {p.members && (
              <ul class="members">
                {p.members.map((m) => <li key={m.sub}><span class="mono">{m.sub}</span> {m.info ? <code class="excerpt">{JSON.stringify(m.info)}</code> : null}</li>)}
              </ul>
            )}
          </>
        )}
      </Loadable>
    </section>
  );
}

/** A live tail of one or more channels; new events on top. */
function Tail({ channels }: { channels: string[] }): JSX.Element {
  const session = useSession();
  const [events, setEvents] = useState<Envelope[]>([]);
  const [state, setState] = useState('connecting');
  const [error, setError] = useState<string>();
  useEffect(() => {
    setEvents([]);
    return follow(session, channels, (frame: LiveFrame) => {
      if (frame.op === 'event') setEvents((list) => [frame.event, ...list].slice(0, KEEP));
      else if (frame.op === 'state') setState(frame.state);
      else if (frame.op === 'error') setError(`${frame.code}: ${frame.message}`);
    });
  }, [session, channels.join(',')]);
  return (
    <section aria-label="Live tail">
      <p role="status" class="muted">
        Tail of <span class="mono">{channels.join(', ')}</span>: {state}
        {state === 'polling' ? ' (this key may not mint tokens: polled every second)' : ''}
      </p>
      {error && <p class="error" role="alert">{error}</p>}
      {events.length === 0 ? (
        <p class="muted empty">Waiting for events…</p>
      ) : (
        <Table
          caption="Tailed events"
          rows={events}
          rowKey={(e) => e.id}
          columns={[
            { label: 'Received', cell: (e) => time(e.occurred_at) },
            { label: 'Channel', cell: (e) => <span class="mono">{e.channel}</span> },
            { label: 'Type', cell: (e) => <span class="mono">{e.type}</span> },
            { label: 'Event', cell: (e) => <a class="mono" href={`#/events?id=${e.id}`}>{e.id}</a> },
            { label: 'Data', cell: (e) => <code class="excerpt">{JSON.stringify(e.data).slice(0, 200)}</code> },
          ]}
        />
      )}
    </section>
  );
}

export function Channels(): JSX.Element {
  const [text, setText] = useState('');
  const [channels, setChannels] = useState<string[]>([]);
  return (
    <>
      <form
        class="card form"
        aria-label="Tail channels"
        onSubmit={(e) => {
          e.preventDefault();
          setChannels(list(text));
        }}
      >
        <Field label="Channels" hint="One or more channel names, comma-separated (the hub streams named channels; patterns are for webhooks and tokens).">
          <input value={text} required onInput={(e) => setText(e.currentTarget.value)} placeholder="orders, chat.room1" />
        </Field>
        <div class="row">
          <button type="submit">Tail</button>
          {channels.length > 0 && <button type="button" onClick={() => setChannels([])}>Stop</button>}
        </div>
      </form>
      {channels.length > 0 ? (
        <>
          <div class="split">{channels.map((c) => <Presence key={c} channel={c} />)}</div>
          <Tail channels={channels} />
        </>
      ) : (
        <p class="muted empty">Name a channel to follow it live.</p>
      )}
    </>
  );
}
