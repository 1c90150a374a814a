import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DeliveryCounts } from '../store/index.js';
import type { SendOutcome } from './sender.js';

export interface WebhookMetrics {
  /** The attempts counter of one outcome (children are cached: this is on the hot path). */
  attempts(outcome: SendOutcome): Counter.Internal;
  readonly attemptDuration: Histogram;
  /** Publish (commit) → receiver answered 2xx. */
  readonly deliveryLatency: Histogram;
  readonly deadLettered: Counter;
}

export interface WebhookMetricSources {
  counts(): Promise<DeliveryCounts>;
  /** Known subscriptions: each gets a series, 0 when it has nothing waiting. */
  subscriptionIds(): string[];
  inFlight(): number;
}

/** Registers the webhook metrics on the hub's registry. Gauges are read from the store at scrape time. */
export function createWebhookMetrics(registry: Registry, sources: WebhookMetricSources): WebhookMetrics {
  const registers = [registry];
  const perSubscription = (pick: (c: DeliveryCounts) => Map<string, number>) =>
    async function collect(this: Gauge<'subscription_id'>): Promise<void> {
      this.reset();
      let counts: DeliveryCounts;
      try {
        counts = await sources.counts();
      } catch {
        return; // database closing: report nothing rather than fail the scrape
      }
      for (const id of sources.subscriptionIds()) this.set({ subscription_id: id }, 0);
      for (const [id, n] of pick(counts)) this.set({ subscription_id: id }, n);
    };
  new Gauge({
    name: 'pushhub_webhook_deliveries_pending',
    help: 'Deliveries waiting for an attempt (pending or retrying, held ones included), by subscription.',
    labelNames: ['subscription_id'],
    registers,
    collect: perSubscription((c) => c.waiting),
  });
  new Gauge({
    name: 'pushhub_webhook_deliveries_dead',
    help: 'Dead letters kept (until retention or redrive), by subscription.',
    labelNames: ['subscription_id'],
    registers,
    collect: perSubscription((c) => c.dead),
  });
  new Gauge({
    name: 'pushhub_webhook_attempts_in_flight',
    help: 'Webhook attempts under way.',
    registers,
    collect(this: Gauge) {
      this.set(sources.inFlight());
    },
  });
  const attempts = new Counter<'outcome'>({
    name: 'pushhub_webhook_attempts_total',
    help: 'Webhook attempts, by outcome (success, http_error, timeout, network_error, blocked).',
    labelNames: ['outcome'],
    registers,
  });
  const byOutcome = new Map<SendOutcome, Counter.Internal>();
  for (const outcome of ['success', 'http_error', 'timeout', 'network_error', 'blocked', 'aborted'] satisfies SendOutcome[]) {
    byOutcome.set(outcome, attempts.labels({ outcome }));
  }
  for (const outcome of ['success', 'http_error', 'timeout', 'network_error', 'blocked'] as const) byOutcome.get(outcome)!.inc(0);
  return {
    attempts: (outcome) => byOutcome.get(outcome)!,
    attemptDuration: new Histogram({
      name: 'pushhub_webhook_attempt_duration_seconds',
      help: 'Time of one webhook attempt, from request to the end of the response.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'pushhub_webhook_delivery_latency_seconds',
      help: 'From an event being committed to a receiver accepting it (2xx), retries included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 86_400],
      registers,
    }),
    deadLettered: new Counter({
      name: 'pushhub_webhook_dead_letters_total',
      help: 'Deliveries that went dead (retry budget spent).',
      registers,
    }),
  };
}
