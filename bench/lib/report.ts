/**
 * One result row: a project figure beside its bare baseline measured in the same run.
 * `ratio` is always "project relative to baseline, higher is better": project/baseline for
 * throughput, baseline/project for latency. A pending row carries no figure at all.
 */
export interface Figure {
  value: number;
  unit: string;
  /** What was measured, e.g. "signed create → apps/api, 20 connections". */
  label: string;
}

export type Better = 'higher' | 'lower';

export interface ResultRow {
  benchmark: string;
  metric: string;
  status: 'measured' | 'pending';
  project: Figure | null;
  baseline: Figure | null;
  better: Better;
  ratio: number | null;
  target: string;
  targetMet: boolean | null;
  /** Why the row is pending, or what the target check compared. */
  note?: string;
  details?: Record<string, unknown>;
}

export function ratioOf(project: Figure | null, baseline: Figure | null, better: Better): number | null {
  if (!project || !baseline || project.value <= 0 || baseline.value <= 0) return null;
  return better === 'higher' ? project.value / baseline.value : baseline.value / project.value;
}

export function measuredRow(row: Omit<ResultRow, 'status' | 'ratio'>): ResultRow {
  return { ...row, status: 'measured', ratio: ratioOf(row.project, row.baseline, row.better) };
}

export function pendingRow(benchmark: string, metric: string, target: string, note: string, details?: Record<string, unknown>): ResultRow {
  return { benchmark, metric, status: 'pending', project: null, baseline: null, better: 'higher', ratio: null, target, targetMet: null, note, details };
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const places = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: places, minimumFractionDigits: 0 });
}

export function formatFigure(figure: Figure | null): string {
  return figure ? `${formatNumber(figure.value)} ${figure.unit}` : '—';
}

function formatRatio(row: ResultRow): string {
  return row.ratio === null ? '—' : row.ratio.toFixed(2);
}

/** What run aggregation adds to a row (bench/lib/aggregate.ts). */
export interface RunColumns {
  spread?: { runs: number; min: number; max: number } | null;
  targetMetRuns?: number | null;
  commit?: string;
}

type TableRow = ResultRow & RunColumns;

function formatMet(row: TableRow): string {
  if (row.status === 'pending') return 'pending';
  if (row.targetMet === null) return '—';
  const runs = row.spread && row.spread.runs > 1 && row.targetMetRuns !== null && row.targetMetRuns !== undefined ? ` (${row.targetMetRuns}/${row.spread.runs})` : '';
  return `${row.targetMet ? 'yes' : 'NO'}${runs}`;
}

function formatSpread(row: TableRow): string {
  if (!row.spread || !row.project) return '—';
  return `${row.spread.runs}: ${formatNumber(row.spread.min)}–${formatNumber(row.spread.max)}`;
}

const HEADERS = ['benchmark', 'metric', 'project (median)', 'runs: min–max', 'bare baseline', 'ratio', 'target', 'met', 'commit'];

function cells(row: TableRow): string[] {
  return [row.benchmark, row.metric, formatFigure(row.project), formatSpread(row), formatFigure(row.baseline), formatRatio(row), row.target, formatMet(row), row.commit ?? '—'];
}

/** Fixed-width console table. */
export function consoleTable(rows: readonly TableRow[]): string {
  const table = [HEADERS, ...rows.map(cells)];
  const widths = HEADERS.map((_, column) => Math.max(...table.map((line) => line[column].length)));
  const line = (values: string[]) => values.map((value, column) => value.padEnd(widths[column])).join('  ');
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(rows: readonly TableRow[]): string {
  const head = `| ${HEADERS.join(' | ')} |`;
  const rule = `|${HEADERS.map(() => '---').join('|')}|`;
  const body = rows.map((row) => `| ${cells(row).map(escapeCell).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}
