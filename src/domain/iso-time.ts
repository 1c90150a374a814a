/** Years 0000–9999: the range where toISOString has the fixed `YYYY-MM-DDTHH:MM:SS.mmmZ` shape. */
const MIN_MS = -62_167_219_200_000;
const MAX_MS = 253_402_300_799_999;

let memoSecond = NaN;
let memoPrefix = '';

/**
 * `new Date(ms).toISOString()`, several times faster for runs of nearby times (a replay
 * page, a batch): the `YYYY-MM-DDTHH:MM:SS.` prefix is remembered for the last second seen.
 * toISOString alone was half the cost of serialising an envelope.
 */
export function isoTime(ms: number): string {
  if (!(ms >= MIN_MS && ms <= MAX_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== memoSecond) {
    memoSecond = second;
    memoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const millis = ms - second * 1000;
  return `${memoPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}
