import { expect } from 'chai';
import { formatMicroBench, runMicroBench } from '../../src/bench/micro.js';

// The speed figures themselves are not asserted (no timing thresholds in tests): this checks that
// the benchmark measures what it says, and that its ratios are the quotients of its own figures.
describe('tfkd bench micro', () => {
  it('reports fill rows/s and resize ms with a reference from the same run and their ratio', () => {
    const r = runMicroBench({ reps: 1 });
    expect(r.figures.map((f) => f.name)).to.deep.equal([
      'preprocess fill 28x28x1 NCHW f32',
      'preprocess fill 32x32x3 NCHW f32',
      'PIL bilinear resize 500x375 RGB → 298x224',
    ]);
    for (const f of r.figures) {
      expect(f.value, f.name).to.be.greaterThan(0);
      if (f.reference === null) {
        expect(f.ratio).to.equal(null);
        continue;
      }
      const ratio = f.unit === 'ms' ? f.reference / f.value : f.value / f.reference;
      expect(f.ratio, f.name).to.be.closeTo(ratio, 1e-12);
      expect(f.ok).to.equal(f.ratio! >= f.bound);
    }
    const text = formatMicroBench(r);
    expect(text.trimEnd().split('\n').length).to.equal(3 + r.notes.length);
  });
});
