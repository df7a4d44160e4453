import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkError } from '../../src/errors.js';
import { removeTempPaths, tempPathsInFlight, writeFileAtomic, writeFileAtomicAsync, writeJsonAtomic } from '../../src/util/atomic.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

describe('util/atomic: the one atomic writer', () => {
  let dir: string;
  beforeEach(() => (dir = tmpDir('atomic')));
  afterEach(() => rmDir(dir));

  it('writes text, bytes or chunks in order, returns their sha256 and leaves no temp file', () => {
    const f = path.join(dir, 'a.bin');
    const chunks = [Buffer.from('ab'), new Uint8Array([0, 1, 2]), Buffer.from('z')];
    const sha = writeFileAtomic(f, chunks);
    const bytes = fs.readFileSync(f);
    expect(bytes.equals(Buffer.concat(chunks))).to.equal(true);
    expect(sha).to.equal(createHash('sha256').update(bytes).digest('hex'));
    expect(writeFileAtomic(f, 'é\n')).to.equal(createHash('sha256').update('é\n', 'utf8').digest('hex'));
    expect(fs.readFileSync(f, 'utf8')).to.equal('é\n');
    expect(fs.readdirSync(dir)).to.deep.equal(['a.bin']);
  });

  it('the hooks fire where the fault points need them: after each chunk, and before the rename (the old file still in place)', () => {
    const f = path.join(dir, 'm.json');
    fs.writeFileSync(f, 'old');
    const seen: string[] = [];
    writeFileAtomic(f, [Buffer.from('n'), Buffer.from('ew')], {
      afterChunk: (i) => seen.push(`chunk ${i}`),
      beforeRename: () => seen.push(`before rename: ${fs.readFileSync(f, 'utf8')}, temp ${fs.readdirSync(dir).filter((e) => e.startsWith('.tmp-m.json-')).length}`),
    });
    expect(seen).to.deep.equal(['chunk 0', 'chunk 1', 'before rename: old, temp 1']);
    expect(fs.readFileSync(f, 'utf8')).to.equal('new');
  });

  it('writeJsonAtomic: indented JSON and a newline, its directory created', () => {
    const f = path.join(dir, 'x', 'y', 'r.json');
    writeJsonAtomic(f, { a: [1, 2], b: 'c' });
    expect(fs.readFileSync(f, 'utf8')).to.equal('{\n  "a": [\n    1,\n    2\n  ],\n  "b": "c"\n}\n');
  });

  it('EXPECTED FAILURE - a missing directory (without mkdir) names the file; a failing chunk removes the temp file', () => {
    const f = path.join(dir, 'nope', 'a.json');
    expect(() => writeFileAtomic(f, 'x')).to.throw(WorkError, f);
    writeFileAtomic(f, 'x', { mkdir: true });
    expect(fs.readFileSync(f, 'utf8')).to.equal('x');
    const g = path.join(dir, 'b.bin');
    const boom = function* () {
      yield Buffer.from('half');
      throw new Error('disk on fire');
    };
    expect(() => writeFileAtomic(g, boom())).to.throw(/disk on fire/);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['nope']);
  });

  it('EXPECTED FAILURE - a hook that throws (a crash between the write and the rename) removes the temp file; the old file stays', () => {
    const f = path.join(dir, 'k.json');
    fs.writeFileSync(f, 'old');
    expect(() =>
      writeFileAtomic(f, 'new', {
        beforeRename: () => {
          throw new Error('crash before the rename');
        },
      }),
    ).to.throw(/crash before the rename/);
    expect(fs.readdirSync(dir)).to.deep.equal(['k.json']);
    expect(fs.readFileSync(f, 'utf8')).to.equal('old');
    expect(tempPathsInFlight()).to.deep.equal([]);
  });

  it('the temp file is in the process-wide registry while it is written, and out of it after; removeTempPaths removes it (the signal handler\'s job)', () => {
    const f = path.join(dir, 'r.bin');
    const tmp = path.join(dir, `.tmp-r.bin-${process.pid}`);
    let during: string[] = [];
    writeFileAtomic(f, 'x', { beforeRename: () => (during = tempPathsInFlight()) });
    expect(during).to.deep.equal([tmp]);
    expect(tempPathsInFlight()).to.deep.equal([]);
    // Interrupted between the fsync and the rename: the registry's removal leaves nothing, and the
    // write then fails naming the file (in the CLI the process has ended by then).
    expect(() => writeFileAtomic(path.join(dir, 's.bin'), 'y', { beforeRename: () => expect(removeTempPaths()).to.have.length(1) })).to.throw(WorkError, 's.bin');
    expect(fs.readdirSync(dir)).to.deep.equal(['r.bin']);
    expect(tempPathsInFlight()).to.deep.equal([]);
  });

  it('writeFileAtomicAsync: the same bytes, sha256 and temp name as writeFileAtomic; its temp file registered while in flight, removed on a failure', async () => {
    const f = path.join(dir, 'm.onnx');
    const chunks = [Buffer.from('ab'), new Uint8Array([0, 1, 2])];
    let during: string[] = [];
    const sha = await writeFileAtomicAsync(f, chunks, {
      beforeRename: async () => {
        during = tempPathsInFlight();
      },
    });
    expect(sha).to.equal(writeFileAtomic(path.join(dir, 'n.onnx'), chunks));
    expect(fs.readFileSync(f).equals(fs.readFileSync(path.join(dir, 'n.onnx')))).to.equal(true);
    expect(during).to.deep.equal([path.join(dir, `.tmp-m.onnx-${process.pid}`)]);
    let err: unknown;
    try {
      await writeFileAtomicAsync(path.join(dir, 'o.onnx'), 'z', {
        beforeRename: async () => {
          throw new Error('crash before the rename');
        },
      });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/crash before the rename/);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['m.onnx', 'n.onnx']);
    expect(tempPathsInFlight()).to.deep.equal([]);
  });
});
