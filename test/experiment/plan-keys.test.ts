import { expect } from 'chai';
import * as fs from 'node:fs';
import { loadDesign } from '../../src/experiment/design.js';
import { expandDesign } from '../../src/experiment/plan.js';

// The converged design's steps (key, type, directory, in plan order) as main's expandDesign produced
// them before the PlanBuilder refactor (test/fixtures/plans/converged-steps.json, `captured_from`).
// A refactor of the expansion must not change what a key means: a finished experiment directory
// is found again by these keys. If the design file itself changes, recapture the fixture from the
// code *before* changing the expansion.
describe('experiment expansion: the converged design keeps its step keys', () => {
  it('gives the same 109 steps, keys, types and directories, in the same order', () => {
    const want = JSON.parse(fs.readFileSync('test/fixtures/plans/converged-steps.json', 'utf8')) as {
      design: string;
      steps: Array<{ key: string; type: string; dir: string | null }>;
    };
    const plan = expandDesign(loadDesign(want.design));
    const got = plan.steps.map((s) => ({ key: s.key, type: s.type, dir: 'dir' in s ? s.dir : 'out' in s ? s.out : null }));
    expect(got.length).to.equal(109);
    expect(got).to.deep.equal(want.steps);
  });
});
