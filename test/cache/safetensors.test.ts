import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setFloat16, getFloat16 } from '@petamoriken/float16';
import {
  SafetensorsError,
  openSafetensors,
  writeSafetensors,
  type TensorIn,
} from '../../src/cache/safetensors.js';
import { f16ToF32, f32ToF16, f32ToF16Bits } from '../../src/util/float16.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

function libF16Bits(x: number): number {
  const dv = new DataView(new ArrayBuffer(2));
  setFloat16(dv, 0, x, true);
  return dv.getUint16(0, true);
}

describe('cache/safetensors', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('st');
  });
  afterEach(() => rmDir(dir));

  const sample = (): Record<string, TensorIn> => ({
    f32: { dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2) },
    f16: { dtype: 'F16', shape: [3, 2], data: f32ToF16([1, -2, 0.5, 65504, -0.000061035156, 3.140625]) },
    i32: { dtype: 'I32', shape: [5], data: Int32Array.from([1, -2, 3, 2147483647, -2147483648]) },
    i64: { dtype: 'I64', shape: [2, 2], data: BigInt64Array.from([0n, -1n, 9007199254740993n, -42n]) },
    u8: { dtype: 'U8', shape: [7], data: Uint8Array.from([0, 1, 2, 3, 254, 255, 7]) },
  });

  it('round-trips every dtype, with metadata, and aligns the header to 8 bytes', () => {
    const f = path.join(dir, 'a.safetensors');
    const t = sample();
    writeSafetensors(f, t, { schema: 'x', n: '3' });
    const bytes = fs.readFileSync(f);
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).to.equal(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).to.deep.equal({ schema: 'x', n: '3' });
    expect(header.f32).to.deep.equal({ dtype: 'F32', shape: [3, 4], data_offsets: [0, 48] });
    const st = openSafetensors(f);
    try {
      expect(st.metadata).to.deep.equal({ schema: 'x', n: '3' });
      for (const [name, ten] of Object.entries(t)) {
        const back = st.readTensor(name);
        expect(back.constructor).to.equal(ten.data.constructor);
        expect(Array.from(back as ArrayLike<unknown>)).to.deep.equal(Array.from(ten.data as ArrayLike<unknown>));
      }
      expect(Array.from(f16ToF32(st.readTensor('f16') as Uint16Array))).to.deep.equal([1, -2, 0.5, 65504, -0.00006103515625, 3.140625]);
    } finally {
      st.close();
    }
    // no temp file left behind
    expect(fs.readdirSync(dir)).to.deep.equal(['a.safetensors']);
  });

  it('reads arbitrary row ranges by positioned reads', () => {
    const f = path.join(dir, 'rows.safetensors');
    const K = 7;
    const rows = 50;
    const data = Float32Array.from({ length: rows * K }, (_, i) => Math.sin(i));
    const idx = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i * 3));
    writeSafetensors(f, { logits: { dtype: 'F32', shape: [rows, K], data }, sample: { dtype: 'I64', shape: [rows], data: idx } });
    const st = openSafetensors(f);
    try {
      expect(st.rowBytes('logits')).to.equal(K * 4);
      for (const [a, c] of [[0, 1], [13, 5], [49, 1], [0, 50], [20, 0]]) {
        expect(Array.from(st.readRows('logits', a, c) as Float32Array)).to.deep.equal(Array.from(data.subarray(a * K, (a + c) * K)));
        expect(Array.from(st.readRows('sample', a, c) as BigInt64Array)).to.deep.equal(Array.from(idx.subarray(a, a + c)));
      }
      expect(() => st.readRows('logits', 45, 6)).to.throw(RangeError);
      expect(() => st.readRows('nope', 0, 1)).to.throw(SafetensorsError, /no tensor named nope/);
    } finally {
      st.close();
    }
  });

  it('writes identical bytes for identical inputs', () => {
    writeSafetensors(path.join(dir, 'x'), sample(), { a: 'b' });
    writeSafetensors(path.join(dir, 'y'), sample(), { a: 'b' });
    expect(fs.readFileSync(path.join(dir, 'x')).equals(fs.readFileSync(path.join(dir, 'y')))).to.equal(true);
  });

  it('BAD CALL - refuses a data array that does not match dtype or shape', () => {
    expect(() => writeSafetensors(path.join(dir, 'b'), { x: { dtype: 'F32', shape: [2], data: new Int32Array(2) } })).to.throw(SafetensorsError, /Float32Array/);
    expect(() => writeSafetensors(path.join(dir, 'b'), { x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).to.throw(SafetensorsError, /shape/);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  describe('EXPECTED FAILURE - corrupt files are rejected with the reason', () => {
    const good = (): Buffer => {
      const f = path.join(dir, 'g');
      writeSafetensors(f, { a: { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) } }, { k: 'v' });
      return fs.readFileSync(f);
    };
    const open = (b: Buffer) => {
      const f = path.join(dir, 'bad');
      fs.writeFileSync(f, b);
      return () => openSafetensors(f).close();
    };
    it('huge header length', () => {
      const b = good();
      b.writeBigUInt64LE(1n << 40n, 0);
      expect(open(b)).to.throw(SafetensorsError, /header length/);
    });
    it('header not JSON', () => {
      const b = good();
      b[8] = 0x41;
      expect(open(b)).to.throw(SafetensorsError, /not valid JSON/);
    });
    it('truncated data', () => {
      const b = good();
      expect(open(b.subarray(0, b.length - 1))).to.throw(SafetensorsError, /past the end|cover/);
    });
    it('trailing garbage', () => {
      expect(open(Buffer.concat([good(), Buffer.alloc(4)]))).to.throw(SafetensorsError, /cover/);
    });
    it('unknown dtype and inconsistent shape', () => {
      const b = good();
      const n = Number(b.readBigUInt64LE(0));
      const h = b.subarray(8, 8 + n).toString('utf8');
      expect(open(Buffer.concat([b.subarray(0, 8), Buffer.from(h.replace('"F32"', '"Q32"')), b.subarray(8 + n)]))).to.throw(SafetensorsError, /unsupported dtype Q32/);
      expect(open(Buffer.concat([b.subarray(0, 8), Buffer.from(h.replace('[2,2]', '[2,3]')), b.subarray(8 + n)]))).to.throw(SafetensorsError, /needs 24 bytes/);
    });
    it('file shorter than 8 bytes', () => {
      expect(open(Buffer.alloc(3))).to.throw(SafetensorsError, /too short/);
    });
  });

  it('f32 → f16 conversion matches @petamoriken/float16 (round to nearest even) on edge cases and 100k values', () => {
    const edge = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e9, -1e9, Infinity, -Infinity, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26, 5.960464477539063e-8, 6.1e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2047.5, 2048.5];
    for (const x of edge) expect(f32ToF16Bits(x), `x=${x}`).to.equal(libF16Bits(x));
    expect(Number.isNaN(getFloat16(new DataView(Uint16Array.of(f32ToF16Bits(NaN)).buffer), 0, true))).to.equal(true);
    // deterministic pseudo-random float32 bit patterns over the whole range
    let s = 12345;
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    let mismatches = 0;
    for (let i = 0; i < 100000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      u[0] = s;
      if (Number.isNaN(f[0])) continue;
      if (f32ToF16Bits(f[0]) !== libF16Bits(f[0])) mismatches++;
    }
    expect(mismatches).to.equal(0);
    // and decoding all 65536 bit patterns agrees with the library
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const dec = f16ToF32(all);
    const dv = new DataView(all.buffer);
    for (let i = 0; i < 65536; i++) {
      const ref = getFloat16(dv, i * 2, true);
      if (!(Object.is(dec[i], ref) || (Number.isNaN(dec[i]) && Number.isNaN(ref)))) throw new Error(`decode mismatch at ${i}`);
    }
  });
});
