import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { follow, metric, scrapeMetrics, type MetricSample } from '../live';
import { useSession } from '../session';
import { Table, time, value } from '../ui';
import type { Envelope } from '../api/client';

const POLL_MS = 2000;
const POINTS = 90; // 3 minutes
const OUTCOMES = ['success', 'http_error', 'timeout', 'network_error'] as const;
const OUTCOME_COLOURS = ['#1a7f37', '#cf222e', '#9a6700', '#8250df'];

interface Point {
  at: number;
  events: number;
  outcomes: number[];
}

/** Per-second rates between two scrapes of the public /metrics. */
function rates(a: MetricSample, b: MetricSample): Point {
  const s = (b.at - a.at) / 1000;
  const rate = (name: string, match = ''): number => Math.max(0, (metric(b, name, match) - metric(a, name, match)) / s);
  return {
    at: b.at / 1000,
    events: rate('pushhub_events_published_total'),
    outcomes: OUTCOMES.map((o) => rate('pushhub_webhook_attempts_total', `outcome="${o}"`)),
  };
}

function Chart({ title, series, points, pick }: { title: string; series: { label: string; stroke: string }[]; points: Point[]; pick: (p: Point) => number[] }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  const data = (): uPlot.AlignedData => [points.map((p) => p.at), ...series.map((_, i) => points.map((p) => pick(p)[i] ?? 0))];
  useEffect(() => {
    const el = box.current!;
    const width = (): number => Math.max(260, el.clientWidth);
    plot.current = new uPlot(
      { width: width(), height: 180, series: [{}, ...series.map((s) => ({ ...s, width: 2 }))], axes: [{}, { size: 50 }], legend: { live: false }, scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } } },
      data(),
      el,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(data()), [points]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${series.map((s, i) => `${s.label} ${(pick(points.at(-1) ?? { at: 0, events: 0, outcomes: [] })[i] ?? 0).toFixed(1)}`).join(', ')}`} />
    </figure>
  );
}

function Stat({ label, value: v, href }: { label: string; value: number | undefined; href?: string }): JSX.Element {
  const shown = v === undefined ? '…' : Number.isInteger(v) ? String(v) : v.toFixed(1);
  return (
    <div class="stat">
      <span class="stat-label">{label}</span>
      {href ? <a class="stat-value" href={href} aria-label={`${label}: ${shown}`}>{shown}</a> : <span class="stat-value" aria-label={`${label}: ${shown}`}>{shown}</span>}
    </div>
  );
}

/** Live operational events ($hub.subscriptions, $hub.deliveries), newest first. */
function OperationalEvents(): JSX.Element {
  const session = useSession();
  const [events, setEvents] = useState<Envelope[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!session.features.operationalEvents) return;
    return follow(session, ['$hub.subscriptions', '$hub.deliveries'], (frame) => {
      if (frame.op === 'event') setEvents((list) => [frame.event, ...list].slice(0, 20));
      if (frame.op === 'error') setError(frame.message);
    });
  }, [session]);
  if (!session.features.operationalEvents) return <p class="muted empty">This hub does not publish operational events yet.</p>;
  return (
    <>
      {error && <p class="error" role="alert">{error}</p>}
      {events.length === 0 ? (
        <p class="muted empty">No operational events since this page opened.</p>
      ) : (
        <Table
          caption="Latest operational events"
          rowKey={(e) => e.id}
          rows={events}
          columns={[
            { label: 'Time', cell: (e) => time(e.occurred_at) },
            { label: 'Type', cell: (e) => e.type },
            { label: 'Subscription', cell: (e) => value((e.data as Record<string, unknown>)?.subscription_id) },
            { label: 'Detail', cell: (e) => value((e.data as Record<string, unknown>)?.last_error ?? (e.data as Record<string, unknown>)?.url) },
          ]}
        />
      )}
    </>
  );
}

export function Overview(): JSX.Element {
  const [points, setPoints] = useState<Point[]>([]);
  const [last, setLast] = useState<MetricSample>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let previous: MetricSample | undefined;
    let stopped = false;
    const tick = async (): Promise<void> => {
      try {
        const sample = await scrapeMetrics();
        if (stopped) return;
        if (previous) setPoints((p) => [...p, rates(previous!, sample)].slice(-POINTS));
        previous = sample;
        setLast(sample);
        setError(undefined);
      } catch (err) {
        setError((err as Error).message);
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  const m = (name: string, match?: string): number | undefined => (last ? metric(last, name, match) : undefined);
  const latest = points.at(-1);
  return (
    <>
      {error && <p class="error" role="alert">Could not read /metrics: {error}</p>}
      <section class="stats" aria-label="Now">
        <Stat label="Events/s" value={latest?.events} />
        <Stat label="Connections" value={m('pushhub_realtime_connections')} />
        <Stat label="Pending deliveries" value={m('pushhub_webhook_deliveries_pending')} href="#/deliveries?state=pending" />
        <Stat label="Dead deliveries" value={m('pushhub_webhook_deliveries_dead')} href="#/deliveries?state=dead" />
        <Stat label="Attempts in flight" value={m('pushhub_webhook_attempts_in_flight')} />
      </section>
      <section class="charts">
        <Chart title="Events published per second" series={[{ label: 'events/s', stroke: '#0969da' }]} points={points} pick={(p) => [p.events]} />
        <Chart title="Webhook attempts per second, by outcome" series={OUTCOMES.map((o, i) => ({ label: o, stroke: OUTCOME_COLOURS[i]! }))} points={points} pick={(p) => p.outcomes} />
      </section>
      <h2>Latest operational events</h2>
      <OperationalEvents />
    </>
  );
}
