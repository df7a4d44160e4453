/** The order of a plan's steps (inputs first, else creation order) and of a run's checkpoints. */
import type { Step } from './plan-types.js';

/** Checkpoint names (`epoch-N`, `step-N`) by unit, then number. */
export function compareCheckpoints(a: string, b: string): number {
  const [ua, na] = a.split('-');
  const [ub, nb] = b.split('-');
  return ua === ub ? Number(na) - Number(nb) : ua < ub ? -1 : 1;
}

/** Inputs before the steps that use them; otherwise the order of creation (deterministic). */
export function topoOrder(steps: Step[]): Step[] {
  const byKey = new Map(steps.map((s) => [s.key, s] as const));
  const done = new Set<string>();
  const out: Step[] = [];
  const visit = (s: Step): void => {
    if (done.has(s.key)) return;
    done.add(s.key);
    for (const i of s.inputs) visit(byKey.get(i)!);
    out.push(s);
  };
  steps.forEach(visit);
  return out;
}
