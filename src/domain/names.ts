import { z } from 'zod';

const NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Dot-separated non-empty segments: the shape of every valid channel, in one test. */
const CHANNEL_RE = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;

/** Names starting with `$` are the hub's; of those, its own channels (operational events) are `$hub.…`: readable, never published to. */
export const HUB_PREFIX = '$hub.';

/**
 * Why a channel name is refused, or null when it is valid. `hub`: names of the hub's own
 * channels (`$hub.deliveries`, a `$` then a valid name) are accepted too: reads take them,
 * publishing does not.
 */
export function channelProblem(channel: string, hub = false): string | null {
  if (channel.length <= 128 && CHANNEL_RE.test(channel)) return null;
  if (channel.startsWith('$')) {
    if (!hub) return 'names starting with "$" are reserved for the hub';
    if (!channel.startsWith(HUB_PREFIX)) return 'names starting with "$" are reserved for the hub (its channels are $hub.…)';
    const problem = channelProblem(channel.slice(1));
    return problem === null ? (channel.length <= 128 ? null : 'must be 1-128 characters of A-Z a-z 0-9 _ . : -') : problem;
  }
  if (!NAME_RE.test(channel)) return 'must be 1-128 characters of A-Z a-z 0-9 _ . : -';
  if (channel.split('.').some((s) => s === '')) return 'must not have empty segments (leading, trailing or double ".")';
  return null;
}

/** A channel one may publish to: never one of the hub's own (`$…`). */
export const publishChannelSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = channelProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // The refinement's rule, for the API documents (validation keeps its own messages).
  .meta({ pattern: CHANNEL_RE.source, maxLength: 128, description: 'A channel: dot-separated segments of A-Z a-z 0-9 _ : -, at most 128 characters.' });

/** A channel one may read (and every channel an event carries): the hub's own `$…` channels included. */
export const channelSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = channelProblem(value, true);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    pattern: `^(\\$hub\\.)?${CHANNEL_RE.source.slice(1)}`,
    maxLength: 128,
    description: 'A channel: dot-separated segments of A-Z a-z 0-9 _ : -, at most 128 characters; the hub\'s own channels start with "$hub." ($hub.subscriptions, $hub.deliveries, $hub.channels, $hub.test).',
  });

export const typeSchema = z
  .string()
  .regex(NAME_RE, 'must be 1-128 characters of A-Z a-z 0-9 _ . : -')
  .meta({ description: 'An event type: 1-128 characters of A-Z a-z 0-9 _ . : -.' });
