import { ratioOf, type Figure, type ResultRow } from './report';

/** The spread of one figure over the runs of a benchmark. */
export interface Spread {
  runs: number;
  min: number;
  max: number;
}

export type AggregatedRow = ResultRow & { spread: Spread | null; targetMetRuns: number | null; commit: string };

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function medianFigure(figures: readonly (Figure | null)[]): Figure | null {
  const present = figures.filter((figure): figure is Figure => figure !== null);
  if (present.length === 0) return null;
  return { ...present[0], value: median(present.map((figure) => figure.value)) };
}

/**
 * Rows of the same benchmark and metric from several runs, as one: the median project and baseline,
 * the project's min–max, and the target met only when every run met it (a target must hold, not
 * hold once). A metric whose label changes between runs (sizes in the text) is matched by position.
 */
export function aggregateRuns(runs: readonly (readonly ResultRow[])[], commit: string): AggregatedRow[] {
  const first = runs[0] ?? [];
  return first.map((row, index) => {
    const same = runs.map((rows) => rows.find((candidate) => candidate.benchmark === row.benchmark && candidate.metric === row.metric) ?? rows[index]).filter(Boolean);
    const values = same.flatMap((candidate) => (candidate.project ? [candidate.project.value] : []));
    const project = medianFigure(same.map((candidate) => candidate.project));
    const baseline = medianFigure(same.map((candidate) => candidate.baseline));
    const verdicts = same.map((candidate) => candidate.targetMet).filter((met): met is boolean => met !== null);
    return {
      ...row,
      project,
      baseline,
      ratio: row.status === 'measured' ? ratioOf(project, baseline, row.better) : null,
      targetMet: verdicts.length === 0 ? null : verdicts.length === same.length && verdicts.every(Boolean),
      targetMetRuns: verdicts.length === 0 ? null : verdicts.filter(Boolean).length,
      spread: values.length > 0 ? { runs: values.length, min: Math.min(...values), max: Math.max(...values) } : null,
      commit,
      details: same.length > 1 ? { runs: same.map((candidate) => candidate.details ?? null) } : row.details,
    };
  });
}
