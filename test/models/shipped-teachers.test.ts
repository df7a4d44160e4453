import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { openDataset } from '../../src/data/open.js';
import { openTeacher } from '../../src/teacher/session.js';
import { needs } from '../helpers/needs.js';

/**
 * The teachers in models/ are artifacts with claims attached (provenance JSON beside each, written
 * by scripts/make_teachers.py). Check the claims: the file is the one described (sha256, size) and
 * its accuracy on the Fashion-MNIST test split is what the provenance says, re-measured here with
 * onnxruntime-node instead of PyTorch (a handful of near-tie predictions may flip: ±0.1 %).
 */
const TEACHERS = ['fmnist-good', 'fmnist-poor'];

describe('models/ shipped teachers', () => {
  for (const name of TEACHERS) {
    const onnxPath = new URL(`../../models/${name}.onnx`, import.meta.url).pathname;
    const prov = JSON.parse(readFileSync(onnxPath.replace(/\.onnx$/, '.json'), 'utf8')) as {
      sha256: string;
      bytes: number;
      test_accuracy: number;
      seed: number;
      command: string;
    };

    it(`${name}: sha256 and size match the provenance, under 2 MB`, () => {
      const bytes = readFileSync(onnxPath);
      expect(createHash('sha256').update(bytes).digest('hex')).to.equal(prov.sha256);
      expect(bytes.length).to.equal(prov.bytes);
      expect(bytes.length).to.be.below(2 * 1024 * 1024);
      expect(prov.command).to.match(/^scripts\/make_teachers\.py/);
    });

    it(`${name}: test accuracy matches the provenance claim (${prov.test_accuracy})`, async function () {
      needs(this, 'dataset-fashion-mnist');
      const ds = await openDataset('fashion-mnist', { split: 'test' });
      // No --preprocess: the model's metadata (tfkd.preprocess) says what it expects.
      const teacher = await openTeacher(onnxPath, { device: 'cpu', data: { shape: ds.shape, numClasses: ds.numClasses } });
      try {
        const K = teacher.info.numClasses;
        let correct = 0;
        for await (const b of ds.iterate(1000)) {
          const logits = await teacher.run(b.pixels, b.indices.length);
          for (let r = 0; r < b.indices.length; r++) {
            let arg = 0;
            for (let k = 1; k < K; k++) if (logits[r * K + k] > logits[r * K + arg]) arg = k;
            if (arg === b.labels[r]) correct++;
          }
        }
        const acc = correct / ds.size;
        expect(Math.abs(acc - prov.test_accuracy), `measured ${acc} vs claimed ${prov.test_accuracy}`).to.be.at.most(0.001);
      } finally {
        await teacher.close();
      }
    });
  }
});
