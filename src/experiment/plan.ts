/**
 * Expansion: a validated design → a DAG of steps (train → export → precompute → train …), each
 * named by a content **key** = sha256 of its resolved configuration and the keys of its inputs.
 * Equal work gets equal keys, so it is done once (a tfkd-self teacher that is exactly the
 * baseline's run *is* that run) and found again on a re-run (resume by key).
 *
 * What a key covers: everything we pass that changes the result (data spec, model, loss and its
 * options, training options, seed, the input cache's key; for caches the teacher's key — or the
 * ONNX file's sha256 — and the precompute options). It does not cover the names in the file, nor
 * `save_at` (saving a checkpoint does not change training; a finished run missing a checkpoint
 * that is now wanted is redone), nor the defaults the trainer fills in itself.
 */
import type { LoadedDesign } from './design.js';
import { PlanBuilder } from './plan-builder.js';
import type { Plan } from './plan-types.js';

/** Expands a design into its plan. Pure apart from hashing ONNX teacher files. */
export function expandDesign(loaded: LoadedDesign): Plan {
  return new PlanBuilder(loaded).build();
}
