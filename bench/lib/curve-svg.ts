/**
 * Renders bench/curve.json as a hand-written SVG: one panel per benchmark, achieved
 * throughput on a log x axis, latency on a log y axis, a p50 line (solid) and a p99 line
 * (dashed) per server, the saturated (closed-loop) point hollow, the p99 target dotted, and a
 * grey ring around a point that other processes still disturbed after its retries.
 */
import { DISTURBED } from './cpu.js';

export interface CurvePoint {
  /** Load asked for, per second; null for the saturated (closed-loop) point. */
  offered_per_s: number | null;
  /** Throughput reached: requests/s (publish) or deliveries/s (fan-out). */
  achieved_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** Share of a core other processes took while it was measured (bench/lib/cpu.ts). */
  other_cpu?: number | null;
}

export interface CurveSeries {
  name: string;
  points: CurvePoint[];
}

export interface CurvePanel {
  title: string;
  x_label: string;
  /** What `offered_per_s` counts (the x axis counts what was reached). */
  offered_unit: string;
  target_p99_ms: number;
  series: CurveSeries[];
}

export interface CurveData {
  title: string;
  subtitle: string;
  panels: CurvePanel[];
}

/** pushhub first (red), then its baseline (blue), then peers. */
const COLORS = ['#d62728', '#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
const PANEL_W = 520;
const HEIGHT = 500;
const PLOT = { left: 70, right: 20, top: 95, bottom: 60 };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number): string => (n >= 1000 ? `${n / 1000}k`.replace('000k', 'M') : String(n));

/** 1-2-5 ticks covering [lo, hi], and the decade bounds of the axis. */
function logAxis(lo: number, hi: number): { min: number; max: number; ticks: number[] } {
  const min = 10 ** Math.floor(Math.log10(lo));
  const max = 10 ** Math.ceil(Math.log10(hi));
  const ticks: number[] = [];
  for (let d = min; d < max * 1.01; d *= 10) for (const m of [1, 2, 5]) if (d * m <= max * 1.01) ticks.push(Number((d * m).toPrecision(1)));
  return { min, max, ticks };
}

function panel(p: CurvePanel, x0: number): string {
  const points = p.series.flatMap((s) => s.points);
  const xAxis = logAxis(Math.min(...points.map((q) => q.achieved_per_s)), Math.max(...points.map((q) => q.achieved_per_s)));
  const latencies = [...points.flatMap((q) => [q.p50_ms, q.p99_ms]), p.target_p99_ms];
  const yAxis = logAxis(Math.min(...latencies), Math.max(...latencies));
  const w = PANEL_W - PLOT.left - PLOT.right;
  const h = HEIGHT - PLOT.top - PLOT.bottom;
  const X = (v: number): number => x0 + PLOT.left + (w * Math.log10(v / xAxis.min)) / Math.log10(xAxis.max / xAxis.min);
  const Y = (v: number): number => PLOT.top + h - (h * Math.log10(v / yAxis.min)) / Math.log10(yAxis.max / yAxis.min);
  const out: string[] = [];
  const left = x0 + PLOT.left;
  const bottom = PLOT.top + h;

  out.push(`<text x="${left + w / 2}" y="58" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${esc(p.title)}</text>`);
  // Grid and tick labels.
  for (const t of xAxis.ticks) {
    const major = Math.log10(t) % 1 === 0;
    out.push(`<line x1="${X(t)}" y1="${PLOT.top}" x2="${X(t)}" y2="${bottom}" stroke="${major ? '#ccc' : '#eee'}"/>`);
    out.push(`<text x="${X(t)}" y="${bottom + 16}" text-anchor="middle" font-size="11" ${FONT}>${fmt(t)}</text>`);
  }
  for (const t of yAxis.ticks) {
    const major = Math.log10(t) % 1 === 0;
    out.push(`<line x1="${left}" y1="${Y(t)}" x2="${left + w}" y2="${Y(t)}" stroke="${major ? '#ccc' : '#eee'}"/>`);
    out.push(`<text x="${left - 6}" y="${Y(t) + 4}" text-anchor="end" font-size="11" ${FONT}>${t}</text>`);
  }
  out.push(`<rect x="${left}" y="${PLOT.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${left + w / 2}" y="${bottom + 38}" text-anchor="middle" font-size="12" ${FONT}>${esc(p.x_label)} (log)</text>`);
  out.push(
    `<text x="${x0 + 18}" y="${PLOT.top + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 18} ${PLOT.top + h / 2})" ${FONT}>latency, ms (log)</text>`,
  );
  // The p99 target.
  const ty = Y(p.target_p99_ms);
  out.push(`<line x1="${left}" y1="${ty}" x2="${left + w}" y2="${ty}" stroke="#000" stroke-dasharray="2 3"/>`);
  out.push(`<text x="${left + 4}" y="${ty - 4}" font-size="11" ${FONT}>p99 target ${p.target_p99_ms} ms</text>`);
  const legendW = 14 + 7 * Math.max(...p.series.map((s) => s.name.length)) + 40;
  out.push(`<rect x="${left + 4}" y="${PLOT.top + 4}" width="${legendW}" height="${p.series.length * 18 + 8}" fill="white" fill-opacity="0.9" stroke="#ccc"/>`);
  // Series: p50 solid, p99 dashed, points in order of load; the saturated point hollow.
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    // The line joins the open-loop steps in order of offered load; the closed-loop point stands alone.
    const steps = s.points.filter((q) => q.offered_per_s !== null).sort((a, b) => a.offered_per_s! - b.offered_per_s!);
    for (const [key, dash] of [['p50_ms', ''], ['p99_ms', ' stroke-dasharray="6 4"']] as const) {
      const path = steps.map((q) => `${X(q.achieved_per_s).toFixed(1)},${Y(q[key]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const q of s.points) {
        const fill = q.offered_per_s === null ? 'white' : color;
        const [cx, cy] = [X(q.achieved_per_s).toFixed(1), Y(q[key]).toFixed(1)];
        if ((q.other_cpu ?? 0) > DISTURBED) out.push(`<circle cx="${cx}" cy="${cy}" r="7" fill="none" stroke="#999" stroke-width="1.5"/>`);
        out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${fill}" stroke="${color}" stroke-width="1.5"/>`);
      }
    }
    // Legend, one row per series inside the top-left of the plot.
    const ly = PLOT.top + 16 + i * 18;
    out.push(`<line x1="${left + 10}" y1="${ly - 4}" x2="${left + 34}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${left + 40}" y="${ly}" font-size="12" ${FONT}>${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

export function renderCurveSvg(data: CurveData): string {
  const width = PANEL_W * data.panels.length;
  // The key: line styles and markers, shared by both panels.
  const y = HEIGHT - 12;
  const items: [symbol: (x: number) => string, label: string, width: number][] = [
    [(x) => `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="#333" stroke-width="2"/>`, 'p50', 75],
    [(x) => `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="#333" stroke-width="2" stroke-dasharray="6 4"/>`, 'p99', 75],
    [(x) => `<circle cx="${x + 22}" cy="${y}" r="3.5" fill="#333"/>`, 'fixed offered rate (open loop)', 215],
    [(x) => `<circle cx="${x + 22}" cy="${y}" r="3.5" fill="white" stroke="#333" stroke-width="1.5"/>`, 'saturated (closed loop)', 175],
    [(x) => `<circle cx="${x + 22}" cy="${y}" r="7" fill="none" stroke="#999" stroke-width="1.5"/>`, 'disturbed by other processes', 210],
  ];
  let kx = (width - items.reduce((sum, [, , w]) => sum + w, 0)) / 2;
  const key = items
    .map(([symbol, label, w]) => {
      const out = `${symbol(kx)}<text x="${kx + 34}" y="${y + 4}" font-size="12" ${FONT}>${label}</text>`;
      kx += w;
      return out;
    })
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="17" font-weight="bold" ${FONT}>${esc(data.title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="12" fill="#444" ${FONT}>${esc(data.subtitle)}</text>`,
    ...data.panels.map((p, i) => panel(p, i * PANEL_W)),
    key,
    '</svg>',
    '',
  ].join('\n');
}
