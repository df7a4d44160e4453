import * as fs from 'node:fs';

/** Writes a .npy file (format 1.0, little-endian, C order) of float32 or int64 values, for the Python references. */
export function writeNpy(file: string, data: Float32Array | BigInt64Array, shape: number[]): void {
  const descr = data instanceof Float32Array ? '<f4' : '<i8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** Integers as an int64 .npy vector. */
export function writeNpyInts(file: string, values: ArrayLike<number>): void {
  writeNpy(file, BigInt64Array.from(Array.from(values, (v) => BigInt(v))), [values.length]);
}
