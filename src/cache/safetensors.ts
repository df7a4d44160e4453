/**
 * Standard safetensors files (https://github.com/huggingface/safetensors#format), written and read
 * without any whole-file load:
 *
 *   [u64 LE header length n][n bytes JSON header, space-padded so 8+n is a multiple of 8][raw data]
 *
 * The header maps tensor name → {dtype, shape, data_offsets: [begin, end]} (offsets relative to the
 * start of the data block) plus an optional `__metadata__` string→string map. Data is C-order,
 * little-endian. F16 tensors are carried as their raw bits in a Uint16Array (Node 20 has no
 * Float16Array); I64 as BigInt64Array.
 *
 * Used by the soft-target cache and reusable for checkpoints.
 */
import * as fs from 'node:fs';
import { NotRegularFileError, openRegular } from '../util/regular-file.js';
import { endianness } from 'node:os';
import { writeFileAtomic, type AtomicWriteHooks } from '../util/atomic.js';

export type StDtype = 'F16' | 'F32' | 'I32' | 'I64' | 'U16' | 'U8';
export type TensorData = Uint16Array | Float32Array | Int32Array | BigInt64Array | Uint8Array;

export const DTYPE_BYTES: Readonly<Record<StDtype, number>> = Object.freeze({ F16: 2, F32: 4, I32: 4, I64: 8, U16: 2, U8: 1 });

export interface TensorIn {
  dtype: StDtype;
  shape: number[];
  data: TensorData;
}

interface TensorEntry {
  dtype: StDtype;
  shape: number[];
  /** Byte offsets relative to the data block. */
  data_offsets: [number, number];
}

/** Refuse headers larger than this: a corrupt length must not make us allocate gigabytes. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

if (endianness() !== 'LE') {
  // Typed arrays use host byte order; the format is little-endian. Every platform Node ships
  // prebuilt binaries for is LE, so we refuse rather than carry a byte-swapping path no test runs.
  throw new Error('tfkd safetensors: big-endian hosts are not supported');
}

/** Error thrown for malformed files. Callers map it to UsageError/WorkError as fits their context. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

function expectedArrayType(dtype: StDtype): string {
  return { F16: 'Uint16Array', F32: 'Float32Array', I32: 'Int32Array', I64: 'BigInt64Array', U16: 'Uint16Array', U8: 'Uint8Array' }[dtype];
}

function checkTensor(name: string, t: TensorIn): void {
  if (!(t.dtype in DTYPE_BYTES)) throw new SafetensorsError(`tensor ${name}: unsupported dtype ${t.dtype}`);
  if (t.data.constructor.name !== expectedArrayType(t.dtype)) {
    throw new SafetensorsError(`tensor ${name}: dtype ${t.dtype} needs a ${expectedArrayType(t.dtype)}, got ${t.data.constructor.name}`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || count !== t.data.length) {
    throw new SafetensorsError(`tensor ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
  }
}

/**
 * Serialises the header. Key order is deterministic: `__metadata__` first, then tensors in the
 * order given (their data follows in the same order), so equal inputs give equal bytes.
 */
export function encodeHeader(tensors: Record<string, TensorIn>, metadata?: Record<string, string>): { header: Buffer; dataBytes: number } {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata ${k}: values must be strings`);
    }
    obj.__metadata__ = metadata;
  }
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is not a valid tensor name');
    checkTensor(name, t);
    const bytes = t.data.byteLength;
    obj[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(obj);
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const body = Buffer.from(json, 'utf8');
  const header = Buffer.alloc(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  return { header, dataBytes: off };
}

function viewBytes(a: TensorData): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a safetensors file atomically; returns its sha256. */
export function writeSafetensors(file: string, tensors: Record<string, TensorIn>, metadata?: Record<string, string>, hooks?: AtomicWriteHooks): string {
  return writeFileAtomic(file, encodeSafetensors(tensors, metadata), hooks);
}

/** The bytes of a safetensors file as a list of chunks (header, then each tensor's data, no copies). */
function encodeSafetensors(tensors: Record<string, TensorIn>, metadata?: Record<string, string>): Buffer[] {
  const { header } = encodeHeader(tensors, metadata);
  return [header, ...Object.values(tensors).map((t) => viewBytes(t.data))];
}

function allocFor(dtype: StDtype, count: number): TensorData {
  switch (dtype) {
    case 'F16':
      return new Uint16Array(count);
    case 'F32':
      return new Float32Array(count);
    case 'I32':
      return new Int32Array(count);
    case 'I64':
      return new BigInt64Array(count);
    case 'U16':
      return new Uint16Array(count);
    case 'U8':
      return new Uint8Array(count);
  }
}

export interface SafetensorsFile {
  readonly path: string;
  readonly fileSize: number;
  /** Absolute file offset of the data block (8 + header length). */
  readonly dataStart: number;
  readonly metadata: Record<string, string>;
  readonly tensors: Readonly<Record<string, TensorEntry>>;
  /** Reads rows [rowStart, rowStart+rowCount) of tensor `name` (first dimension) by a positioned read. */
  readRows(name: string, rowStart: number, rowCount: number): TensorData;
  /** Reads a whole tensor (one positioned read of just its bytes). */
  readTensor(name: string): TensorData;
  /** Byte size of one row (product of all dims but the first × dtype size). */
  rowBytes(name: string): number;
  /** Reads raw bytes [begin, end) of the data block into `out` (positioned). */
  readRawInto(begin: number, out: Uint8Array): void;
  close(): void;
}

function readFully(fd: number, out: Uint8Array, position: number): void {
  let done = 0;
  while (done < out.byteLength) {
    const n = fs.readSync(fd, out, done, out.byteLength - done, position + done);
    if (n === 0) throw new SafetensorsError(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * Opens a safetensors file: reads and validates only the header (length sane, JSON well-formed,
 * dtypes known, shapes × dtype size = offset span, offsets contiguous and inside the file).
 * Tensor bytes are read later by positioned reads.
 */
export function openSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try {
    ({ fd } = openRegular(file)); // a device or FIFO is refused before any read
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new SafetensorsError(e.message);
    throw e;
  }
  try {
    return parseOpen(file, fd);
  } catch (e) {
    fs.closeSync(fd);
    if (e instanceof SafetensorsError) throw new SafetensorsError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Header → each entry checked → the data block's coverage checked → the view over the open file. */
function parseOpen(file: string, fd: number): SafetensorsFile {
  const fileSize = fs.fstatSync(fd).size;
  const { headerBytes, raw } = readHeader(fd, fileSize);
  const dataStart = 8 + headerBytes;
  const dataSize = fileSize - dataStart;
  const { metadata, tensors, spans } = parseEntries(raw, dataSize);
  checkCoverage(spans, dataSize);
  return new SafetensorsFileImpl(file, fd, { fileSize, dataStart, metadata, tensors });
}

/** The length prefix (sane for this file) and the JSON header it announces, parsed to an object. */
function readHeader(fd: number, fileSize: number): { headerBytes: number; raw: Record<string, unknown> } {
  if (fileSize < 8) throw new SafetensorsError(`file too short (${fileSize} bytes)`);
  const lenBuf = Buffer.alloc(8);
  readFully(fd, lenBuf, 0);
  const len = lenBuf.readBigUInt64LE(0);
  if (len > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) throw new SafetensorsError(`header length ${len} is not sane for a ${fileSize}-byte file`);
  const headerBytes = Number(len);
  const hbuf = Buffer.alloc(headerBytes);
  readFully(fd, hbuf, 8);
  let raw: unknown;
  try {
    raw = JSON.parse(hbuf.toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SafetensorsError('header is not a JSON object');
  return { headerBytes, raw: raw as Record<string, unknown> };
}

/** A tensor's byte span in the data block, kept for the coverage check. */
type Span = [begin: number, end: number, name: string];

/** Every header entry checked in header order: `__metadata__` as a string map, the rest as tensors. */
function parseEntries(raw: Record<string, unknown>, dataSize: number): { metadata: Record<string, string>; tensors: Record<string, TensorEntry>; spans: Span[] } {
  let metadata: Record<string, string> = {};
  const tensors: Record<string, TensorEntry> = {};
  const spans: Span[] = [];
  for (const [name, v] of Object.entries(raw)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(v);
      continue;
    }
    const t = checkEntry(name, v, dataSize);
    tensors[name] = t;
    spans.push([t.data_offsets[0], t.data_offsets[1], name]);
  }
  return { metadata, tensors, spans };
}

function checkMetadata(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((s) => typeof s === 'string')) {
    throw new SafetensorsError('__metadata__ must map strings to strings');
  }
  return v as Record<string, string>;
}

/** One tensor entry: known dtype, a shape of safe integers, offsets inside the data whose span fits the shape. */
function checkEntry(name: string, v: unknown, dataSize: number): TensorEntry {
  const e = v as Partial<TensorEntry>;
  if (!e || typeof e !== 'object' || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
    throw new SafetensorsError(`tensor ${name}: entry needs dtype, shape and data_offsets`);
  }
  if (!(e.dtype in DTYPE_BYTES)) throw new SafetensorsError(`tensor ${name}: unsupported dtype ${e.dtype}`);
  const dtype = e.dtype as StDtype;
  if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${name}: bad shape ${JSON.stringify(e.shape)}`);
  const [b, end] = e.data_offsets;
  if (e.data_offsets.length !== 2 || !Number.isSafeInteger(b) || !Number.isSafeInteger(end) || b < 0 || end < b) {
    throw new SafetensorsError(`tensor ${name}: bad data_offsets ${JSON.stringify(e.data_offsets)}`);
  }
  if (end > dataSize) throw new SafetensorsError(`tensor ${name}: data_offsets [${b}, ${end}] run past the end of the data (${dataSize} bytes)`);
  const count = e.shape.reduce((a: number, d: number) => a * d, 1);
  if (count * DTYPE_BYTES[dtype] !== end - b) {
    throw new SafetensorsError(`tensor ${name}: shape [${e.shape}] × ${dtype} needs ${count * DTYPE_BYTES[dtype]} bytes, offsets span ${end - b}`);
  }
  return { dtype, shape: e.shape.slice(), data_offsets: [b, end] };
}

/** The spec requires the data block to be fully covered with no holes or overlaps. */
function checkCoverage(spans: Span[], dataSize: number): void {
  spans.sort((x, y) => x[0] - y[0]);
  let cursor = 0;
  for (const [b, end, name] of spans) {
    if (b !== cursor) throw new SafetensorsError(`tensor ${name}: data starts at ${b}, expected ${cursor} (hole or overlap)`);
    cursor = end;
  }
  if (cursor !== dataSize) throw new SafetensorsError(`data block is ${dataSize} bytes but tensors cover ${cursor}`);
}

/** A checked header over an open descriptor; every read is positioned, none past the data block. */
class SafetensorsFileImpl implements SafetensorsFile {
  readonly fileSize: number;
  readonly dataStart: number;
  readonly metadata: Record<string, string>;
  readonly tensors: Readonly<Record<string, TensorEntry>>;
  private readonly dataSize: number;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
    header: { fileSize: number; dataStart: number; metadata: Record<string, string>; tensors: Record<string, TensorEntry> },
  ) {
    this.fileSize = header.fileSize;
    this.dataStart = header.dataStart;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.dataSize = header.fileSize - header.dataStart;
  }

  rowBytes(name: string): number {
    const t = this.entry(name);
    return t.shape.slice(1).reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype];
  }

  readRows(name: string, rowStart: number, rowCount: number): TensorData {
    const t = this.entry(name);
    const rows = t.shape.length ? t.shape[0] : 1;
    if (!Number.isInteger(rowStart) || !Number.isInteger(rowCount) || rowStart < 0 || rowCount < 0 || rowStart + rowCount > rows) {
      throw new RangeError(`${this.path}: rows [${rowStart}, ${rowStart + rowCount}) outside tensor ${name} with ${rows} rows`);
    }
    const rb = this.rowBytes(name);
    const out = allocFor(t.dtype, (rowCount * rb) / DTYPE_BYTES[t.dtype]);
    this.readRawInto(t.data_offsets[0] + rowStart * rb, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return out;
  }

  readTensor(name: string): TensorData {
    const t = this.entry(name);
    const out = allocFor(t.dtype, (t.data_offsets[1] - t.data_offsets[0]) / DTYPE_BYTES[t.dtype]);
    this.readRawInto(t.data_offsets[0], new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return out;
  }

  readRawInto(begin: number, out: Uint8Array): void {
    if (this.closed) throw new Error(`${this.path}: read after close`);
    if (begin < 0 || begin + out.byteLength > this.dataSize) throw new RangeError(`${this.path}: read [${begin}, ${begin + out.byteLength}) outside data`);
    readFully(this.fd, out, this.dataStart + begin);
  }

  close(): void {
    if (!this.closed) fs.closeSync(this.fd);
    this.closed = true;
  }

  private entry(name: string): TensorEntry {
    const t = this.tensors[name];
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named ${name}`);
    return t;
  }
}

// float16 conversion lives in src/util/float16.ts (shared with the teacher's f16 inputs/outputs).
