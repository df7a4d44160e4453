/**
 * Seeded corruptions of a finished run's checkpoints (the counterpart of corruptions.ts for
 * caches): bytes flipped or files truncated, deleted or taken from another run, state.json and
 * model.json edited, whole checkpoints swapped in from another run. Each names the file the
 * consumer (`eval`, `export`, `train --resume`, `repro`) must name when it refuses it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/data/rng.js';

export interface CheckpointCorruption {
  name: string;
  /** Which checkpoint it damages (`best` or `last`). */
  checkpoint: 'best' | 'last';
  /** Path relative to the run that a consumer must name. */
  file: string;
  apply(run: string, other: string): void;
}

function flipAt(file: string, u: number, bit: number): void {
  const b = fs.readFileSync(file);
  b[Math.min(b.length - 1, Math.floor(u * b.length))] ^= 1 << bit;
  fs.writeFileSync(file, b);
}

function editJson(file: string, edit: (o: Record<string, unknown>) => void): void {
  const o = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(o);
  fs.writeFileSync(file, `${JSON.stringify(o, null, 2)}\n`);
}

/** `count` corruptions (at least every deterministic kind) for runs whose checkpoints have an optimizer in last/. */
export function checkpointCorruptions(count: number, seed: number): CheckpointCorruption[] {
  const rng = new Rng(seed, 0xc4e);
  const out: CheckpointCorruption[] = [];
  for (const ck of ['best', 'last'] as const) {
    const rel = (f: string) => `checkpoints/${ck}/${f}`;
    const files = ck === 'last' ? ['weights.safetensors', 'optimizer.safetensors', 'model.json', 'state.json'] : ['weights.safetensors', 'model.json', 'state.json'];
    for (const f of files) {
      out.push({ name: `${ck}/${f} deleted`, checkpoint: ck, file: f === 'state.json' ? `checkpoints/${ck}` : rel(f), apply: (r) => fs.rmSync(path.join(r, rel(f))) });
      out.push({ name: `${ck}/${f} emptied`, checkpoint: ck, file: rel(f), apply: (r) => fs.writeFileSync(path.join(r, rel(f)), '') });
      out.push({ name: `${ck}/${f} from another run`, checkpoint: ck, file: rel(f), apply: (r, o) => fs.copyFileSync(path.join(o, rel(f)), path.join(r, rel(f))) });
    }
    out.push({ name: `${ck}/ replaced whole by another run's`, checkpoint: ck, file: rel('weights.safetensors'), apply: (r, o) => {
      fs.rmSync(path.join(r, `checkpoints/${ck}`), { recursive: true });
      fs.cpSync(path.join(o, `checkpoints/${ck}`), path.join(r, `checkpoints/${ck}`), { recursive: true });
    } });
    for (const [field, edit] of [
      ['epoch', (o: Record<string, unknown>) => (o.epoch = Number(o.epoch) + 1)],
      ['test_acc', (o: Record<string, unknown>) => (o.test_acc = 0.99)],
      ['preprocess.scale', (o: Record<string, unknown>) => ((o.preprocess as { scale: number }).scale = 1)],
      ['files (resealed to the damaged weights)', (o: Record<string, unknown>) => ((o.files as Record<string, string>)['weights.safetensors'] = '0'.repeat(64))],
      ['format', (o: Record<string, unknown>) => (o.format = 'tfkd-checkpoint/0')],
    ] as const) {
      out.push({ name: `${ck}/state.json: ${field} edited`, checkpoint: ck, file: rel('state.json'), apply: (r) => editJson(path.join(r, rel('state.json')), edit) });
    }
    out.push({ name: `${ck}/model.json: numClasses edited`, checkpoint: ck, file: rel('model.json'), apply: (r) => editJson(path.join(r, rel('model.json')), (o) => (o.numClasses = Number(o.numClasses) + 1)) });
    out.push({ name: `${ck}/state.json: not JSON`, checkpoint: ck, file: rel('state.json'), apply: (r) => fs.writeFileSync(path.join(r, rel('state.json')), '{"epoch": ') });
  }
  while (out.length < count) {
    const ck = rng.below(2) === 0 ? 'best' : 'last';
    const f = ck === 'last' && rng.below(3) === 0 ? 'optimizer.safetensors' : 'weights.safetensors';
    const rel = `checkpoints/${ck}/${f}`;
    if (rng.below(3) === 0) {
      const u = rng.next();
      out.push({ name: `${ck}/${f} truncated to ${u.toFixed(3)}`, checkpoint: ck, file: rel, apply: (r) => {
        const p = path.join(r, rel);
        fs.truncateSync(p, Math.floor(u * fs.statSync(p).size));
      } });
    } else {
      const u = rng.next();
      const bit = rng.below(8);
      out.push({ name: `${ck}/${f}: bit ${bit} flipped at ${u.toFixed(4)}`, checkpoint: ck, file: rel, apply: (r) => flipAt(path.join(r, rel), u, bit) });
    }
  }
  return out;
}
