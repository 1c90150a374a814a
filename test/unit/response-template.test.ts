import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cursorCodec } from '../../src/domain/cursor.js';
import { acceptedJson, acceptedJsonParts, type NewEvent } from '../../src/domain/envelope.js';
import { fillTemplate, responseTemplate, shiftTemplate } from '../../src/domain/response-template.js';

const codec = cursorCodec('abcdefghij');
const event = (i: number): NewEvent => ({ id: `evt_${i}`, channel: `c.${i}`, type: 't', occurredAt: 1_700_000_000_000 + i, receivedAt: 1, data: '{}' });

describe('response templates', () => {
  it('fill in to exactly the response built from the stored events', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2 ** 40 }), (n, first) => {
        const events = Array.from({ length: n }, (_, i) => event(i));
        const seqs = events.map((_, i) => first + i);
        const stored = events.map((e, i) => ({ ...e, seq: seqs[i]! }));
        const batch = responseTemplate(events.map(acceptedJsonParts), 0, '{"events":[', ',', ']}');
        expect(fillTemplate(batch, seqs, codec.encode)).toBe(`{"events":[${stored.map((e) => acceptedJson(e, codec.encode(e.seq))).join(',')}]}`);
        const one = responseTemplate([acceptedJsonParts(events[0]!)], 0);
        expect(fillTemplate(one, seqs, codec.encode)).toBe(acceptedJson(stored[0]!, codec.encode(seqs[0]!)));
      }),
    );
  });

  it('shifted, take their cursors from a job\'s place in a larger commit', () => {
    const template = responseTemplate([['<', '>'], ['[', ']']], 0, '{', ',', '}');
    expect(template).toEqual({ pieces: ['{<', '>,[', ']}'], cursorOf: [0, 1] });
    expect(fillTemplate(shiftTemplate(template, 3), [10, 11, 12, 13, 14], String)).toBe('{<13>,[14]}');
    expect(shiftTemplate(template, 0)).toBe(template);
  });
});
