import { describe, expect, it } from 'vitest';
import { parseClientFrame, serverFrame } from '../../src/realtime/frames.js';

const err = (text: string) => {
  const r = parseClientFrame(text);
  if (r.ok) throw new Error('expected an error');
  return { id: r.id, code: r.code };
};

describe('parseClientFrame', () => {
  it('accepts the four ops of docs/protocol.md', () => {
    expect(parseClientFrame('{"op":"subscribe","channel":"orders","cursor":"abc","id":1}')).toEqual({
      ok: true,
      frame: { op: 'subscribe', channel: 'orders', cursor: 'abc', id: 1 },
    });
    expect(parseClientFrame('{"op":"unsubscribe","channel":"orders"}').ok).toBe(true);
    expect(parseClientFrame('{"op":"publish","channel":"chat.room1","type":"message","data":{"a":1},"id":3}')).toMatchObject({
      ok: true,
      frame: { op: 'publish', channel: 'chat.room1', type: 'message', data: { a: 1 }, id: 3 },
    });
    expect(parseClientFrame('{"op":"publish","channel":"c","type":"t","data":null}').ok).toBe(true);
    expect(parseClientFrame('{"op":"ping","id":4}')).toEqual({ ok: true, frame: { op: 'ping', id: 4 } });
  });

  it('names the code of each kind of bad frame and echoes a usable id', () => {
    expect(err('{oops')).toEqual({ id: undefined, code: 'invalid_message' });
    expect(err('[1,2]')).toEqual({ id: undefined, code: 'invalid_message' });
    expect(err('"text"')).toEqual({ id: undefined, code: 'invalid_message' });
    expect(err('{"id":7}')).toEqual({ id: 7, code: 'invalid_message' });
    expect(err('{"op":"dance","id":8}')).toEqual({ id: 8, code: 'unknown_op' });
    expect(err('{"op":"toString","id":8}')).toEqual({ id: 8, code: 'unknown_op' });
    expect(err('{"op":"subscribe","channel":"$sys","id":9}')).toEqual({ id: 9, code: 'invalid_channel' });
    expect(err('{"op":"subscribe","id":9}')).toEqual({ id: 9, code: 'invalid_channel' });
    expect(err('{"op":"subscribe","channel":"a","cursor":5,"id":10}')).toEqual({ id: 10, code: 'invalid_cursor' });
    expect(err('{"op":"subscribe","channel":"a","extra":1,"id":11}')).toEqual({ id: 11, code: 'invalid_message' });
    expect(err('{"op":"publish","channel":"a b","type":"t","data":1}')).toMatchObject({ code: 'invalid_channel' });
    expect(err('{"op":"publish","channel":"a","type":"","data":1}')).toMatchObject({ code: 'invalid_message' });
    expect(err('{"op":"publish","channel":"a","type":"t"}')).toMatchObject({ code: 'invalid_message' });
    expect(err('{"op":"ping","id":"x"}')).toEqual({ id: undefined, code: 'invalid_message' });
  });
});

describe('serverFrame', () => {
  it('leaves out absent optional fields', () => {
    expect(JSON.parse(serverFrame.subscribed(undefined, 'a', true, 'c'))).toEqual({
      op: 'subscribed',
      channel: 'a',
      resumed: true,
      cursor: 'c',
    });
    expect(JSON.parse(serverFrame.error(2, 'forbidden', 'no'))).toEqual({ op: 'error', id: 2, code: 'forbidden', message: 'no' });
  });
});
