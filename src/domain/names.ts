import { z } from 'zod';

const NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Dot-separated non-empty segments: the shape of every valid channel, in one test. */
const CHANNEL_RE = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;

/** Why a channel name is refused, or null when it is valid. */
export function channelProblem(channel: string): string | null {
  if (channel.length <= 128 && CHANNEL_RE.test(channel)) return null;
  if (channel.startsWith('$')) return 'names starting with "$" are reserved for the hub';
  if (!NAME_RE.test(channel)) return 'must be 1-128 characters of A-Z a-z 0-9 _ . : -';
  if (channel.split('.').some((s) => s === '')) return 'must not have empty segments (leading, trailing or double ".")';
  return null;
}

export const channelSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = channelProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // The refinement's rule, for the API documents (validation keeps its own messages).
  .meta({ pattern: CHANNEL_RE.source, maxLength: 128, description: 'A channel: dot-separated segments of A-Z a-z 0-9 _ : -, at most 128 characters.' });

export const typeSchema = z
  .string()
  .regex(NAME_RE, 'must be 1-128 characters of A-Z a-z 0-9 _ . : -')
  .meta({ description: 'An event type: 1-128 characters of A-Z a-z 0-9 _ . : -.' });
