import { describe, expect, it } from 'vitest';
import { eventStatus, type DeliveryState } from '../../src/domain/event-status.js';

const d = (state: DeliveryState, attempts = 0) => ({ state, attempts });

describe('eventStatus', () => {
  it('no deliveries, or only cancelled ones → no_subscribers', () => {
    expect(eventStatus([])).toBe('no_subscribers');
    expect(eventStatus([d('cancelled')])).toBe('no_subscribers');
  });
  it('nothing attempted yet → pending', () => {
    expect(eventStatus([d('pending'), d('pending')])).toBe('pending');
  });
  it('anything under way → delivering', () => {
    expect(eventStatus([d('in_flight')])).toBe('delivering');
    expect(eventStatus([d('retrying', 1)])).toBe('delivering');
    expect(eventStatus([d('succeeded', 1), d('pending')])).toBe('delivering');
    expect(eventStatus([d('dead', 10), d('pending')])).toBe('delivering');
  });
  it('all done: delivered unless one went dead', () => {
    expect(eventStatus([d('succeeded', 1), d('cancelled')])).toBe('delivered');
    expect(eventStatus([d('succeeded', 1), d('dead', 10)])).toBe('failed');
  });
});
