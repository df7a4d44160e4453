/**
 * `openTeacher`: an ONNX image classifier as a `Teacher` — decoded pixels in, float32 logits out.
 *
 * Order of work, cheapest checks first so bad input fails fast and one-line:
 *   read bytes + sha256 → decode protobuf ("not an ONNX model") → open a session on the first
 *   provider that loads (providers.ts) → pick input/logits output against the data shape
 *   (introspect.ts) → resolve preprocessing (defaults < model metadata < --preprocess).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError, WorkError, optionName } from '../errors.js';
import { decodeModel, fmtShape, resolveIO, withSessionMetadata, type ResolvedIO } from './introspect.js';
import { ortTensor, type OrtFeeds, type OrtOutputs } from './ort.js';
import {
  parsePreprocess,
  preprocessFromMetadata,
  Preprocessor,
  resolvePreprocess,
  type InputBuffer,
  type PartialPreprocess,
} from './preprocess.js';
import { createSession, defaultThreads, type OpenedSession, type SessionFactory, type TeacherSession } from './providers.js';
import { workerSessionFactory } from './remote.js';
import { defaultLanes, laneSessionFactory } from './lanes.js';
import type { Layout, PreprocessSpec, StagedInference, Teacher, TeacherInfo } from './types.js';
import type { TeacherDevice as Device } from '../catalog.js';
import { f16ToF32 } from '../util/float16.js';
import type { Image } from '../data/image.js';
import { resolveClassMap, teacherLabels, type ClassMap } from './class-map.js';

export interface OpenTeacherOptions {
  /** Execution device; `auto` (default) tries cuda, webgpu, cpu in that order. */
  device?: Device;
  /** Intra-op threads (default: all available cores); recorded in `info.threads`. */
  threads?: number;
  /** Name of the logits output when the model has several 2-D outputs. */
  output?: string;
  /** Force the input layout (must fit the input shape). */
  layout?: Layout;
  /** `--preprocess`: a (partial) spec object, a JSON string or a JSON file path. */
  preprocess?: PreprocessSpec | PartialPreprocess | string;
  /**
   * The data set the teacher will see: its sample shape (for variable-size data, that of its
   * fixed-shape face: channels say what the images are read as), whether its images differ in
   * size, and, when known, K and the class names (for `classMap`).
   */
  data: { shape: { height: number; width: number; channels: number }; numClasses?: number; classNames?: readonly string[]; variableSize?: boolean };
  /**
   * `--class-map`: for each data class the teacher output (index or name) that holds its logit
   * (class-map.ts). The teacher then returns those logits only, in data-class order.
   */
  classMap?: string;
  /** `--teacher-labels`: the teacher's class names (else the model's metadata, if it has them). */
  teacherLabels?: string;
  /**
   * Run onnxruntime in a worker thread, so that `session.run` (a blocking native call) does not
   * stop the main thread from reading/preprocessing/writing meanwhile. Same results either way.
   */
  worker?: boolean;
  /**
   * onnxruntime sessions run side by side on the CPU provider, sharing `threads` (teacher/lanes.ts:
   * each in a worker thread; concurrent `infer` calls then run at once). 'auto': one per thread, at
   * most 4, at most 1 GiB of model copies. Default 1: one session, as `worker` says. Same logits.
   */
  sessions?: number | 'auto';
  /** Session factory override (the adapter is still probed first: providers.ts createSession). */
  factory?: SessionFactory;
}

/** One batch turned into a model feed, ready for `runRaw` / `infer`. */
export interface PreparedBatch {
  /** Real samples in the batch. */
  readonly n: number;
  /** Rows fed to the model (≥ n: fixed-batch models are padded). */
  readonly rows: number;
  readonly feeds: OrtFeeds;
}

export interface OrtTeacher extends Teacher {
  readonly io: ResolvedIO;
  /** Batches whose `infer`/`runRaw` run at once: the sessions side by side (teacher/lanes.ts). */
  readonly concurrency: number;
  /** Preprocesses up to one model batch (n ≤ fixedBatch when fixed) into a fresh feed. */
  prepare(pixels: Uint8Array, n: number): Promise<PreparedBatch>;
  /** Renders and preprocesses decoded images of any size (at most one model batch). */
  prepareImages(images: readonly Image[]): Promise<PreparedBatch>;
  /** Preprocesses samples already rendered at `preprocess.size` (normalisation only). */
  prepareRendered(pixels: Uint8Array | Float32Array, n: number): Promise<PreparedBatch>;
  /** Runs a prepared batch; returns `n·K` float32 logits. */
  infer(batch: PreparedBatch): Promise<Float32Array>;
  /** Bare `session.run` on ready feeds, fetching only the logits output (for benchmarks). */
  runRaw(feeds: OrtFeeds): Promise<OrtOutputs>;
}

export async function openTeacher(path: string, opts: OpenTeacherOptions): Promise<OrtTeacher> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read teacher ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return openTeacherBytes(bytes, basename(path), opts);
}

/**
 * The ORT session for the teacher: in process, in a worker thread (`worker`), or `sessions` lanes
 * side by side, on the provider `device` picks.
 */
async function openSession(bytes: Uint8Array, file: string, opts: OpenTeacherOptions): Promise<OpenedSession> {
  const threads = opts.threads ?? defaultThreads();
  // A bad thread count is createSession's to report; 'auto' then asks for one lane.
  const lanes = opts.sessions === 'auto' ? (Number.isInteger(threads) && threads >= 1 ? defaultLanes(threads, bytes.length) : 1) : (opts.sessions ?? 1);
  if (!(Number.isInteger(lanes) && lanes >= 1)) throw new UsageError(`${optionName('sessions')} must be a positive integer or auto, got ${opts.sessions}`);
  const single = opts.worker ? workerSessionFactory : undefined;
  const factory = opts.factory ?? (lanes > 1 ? laneSessionFactory(lanes, single) : single);
  return createSession(bytes, { device: opts.device, threads, factory, what: file });
}

/** `openTeacher` on bytes already in memory (`file` names it in messages and in `info.file`). */
async function openTeacherBytes(bytes: Uint8Array, file: string, opts: OpenTeacherOptions): Promise<OrtTeacher> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const proto = decodeModel(bytes, file);
  const userPre = opts.preprocess === undefined ? undefined : typeof opts.preprocess === 'string' ? parsePreprocess(opts.preprocess) : parsePreprocess(opts.preprocess);
  const metaPre = preprocessFromMetadata(proto.metadata, file);
  const { height, width } = opts.data.shape;
  // The channels the model is fed: what the preprocessing asks for, else the data's own.
  const asked = userPre?.channels ?? metaPre?.channels;
  const channels = asked === 'L' ? 1 : asked === 'RGB' || asked === 'BGR' ? 3 : opts.data.shape.channels;

  const opened = await openSession(bytes, file, opts);
  const session = opened.session;
  try {
    const desc = withSessionMetadata(proto, session);
    const io = resolveIO(desc, {
      output: opts.output,
      layout: opts.layout ?? userPre?.layout,
      layoutHint: metaPre?.layout,
      data: { height, width, channels },
      file,
    });
    const spec = resolvePreprocess([metaPre, userPre], {
      layout: io.layout,
      channels,
      dataSize: [height, width],
      variableSize: opts.data.variableSize,
      modelSize: io.modelSize,
      file,
    });
    const pre = new Preprocessor(spec, opts.data.shape, io.inputDtype);
    const teacher = new OrtTeacherImpl(session, io, pre, file);
    if (io.numClasses === null) io.numClasses = await teacher.probeNumClasses();
    let K = io.numClasses;
    let classMap: ClassMap | null = null;
    if (opts.classMap !== undefined) {
      if (opts.data.numClasses === undefined) throw new UsageError(`${optionName('classMap')} needs the data set's classes`);
      classMap = resolveClassMap(opts.classMap, { numClasses: opts.data.numClasses, classNames: opts.data.classNames }, { K, labels: teacherLabels(opts.teacherLabels, proto.metadata, file), file });
      teacher.select = Int32Array.from(classMap.indices);
      K = classMap.indices.length;
    } else if (opts.teacherLabels !== undefined) {
      teacherLabels(opts.teacherLabels, proto.metadata, file); // checked even when unused
    }
    if (opts.data.numClasses !== undefined && K !== opts.data.numClasses) {
      throw new UsageError(
        `${file} outputs ${K} classes, the data set has ${opts.data.numClasses}`,
        K > opts.data.numClasses ? 'pass --class-map to say which teacher output belongs to each data class (e.g. --class-map names)' : undefined,
      );
    }
    teacher.info = {
      file,
      sha256,
      inputName: io.inputName,
      outputName: io.outputName,
      inputDtype: io.inputDtype,
      inputShape: io.inputShape,
      layout: io.layout,
      fixedBatch: io.fixedBatch,
      numClasses: K,
      classMap,
      opset: proto.opset,
      provider: opened.provider,
      providerNotes: opened.notes,
      threads: opened.threads,
      sessions: session.lanes ?? 1,
      ...(opened.adapter !== undefined ? { adapter: opened.adapter } : {}),
      metadata: proto.metadata,
    };
    return teacher;
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
}

class OrtTeacherImpl implements OrtTeacher {
  info!: TeacherInfo;
  /** onnxruntime teachers prepare feeds apart from `session.run` (StagedInference). */
  readonly staged: StagedInference<PreparedBatch> = this;
  readonly preprocess: PreprocessSpec;
  /** Reused input buffer of `run` (safe: `run` calls are serialized through `queue`). */
  private buffer: InputBuffer | undefined;
  /**
   * Input buffers of inferred batches, reused by `prepare` (a fresh 256×784 float32 buffer per
   * batch cost ~40 % on top of the normalisation itself). A batch's buffer returns here once
   * `infer` has run it, and that batch can then not be inferred again.
   */
  private pool: InputBuffer[] = [];
  private readonly pooled = new WeakMap<PreparedBatch, InputBuffer>();
  private readonly spent = new WeakSet<PreparedBatch>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** With a class map: the teacher outputs returned, in data-class order. */
  select: Int32Array | null = null;

  constructor(
    private readonly session: TeacherSession,
    readonly io: ResolvedIO,
    private readonly pre: Preprocessor,
    private readonly file: string,
  ) {
    this.preprocess = pre.spec;
  }

  /** Batches inferred at once: one per session side by side. */
  get concurrency(): number {
    return this.session.lanes ?? 1;
  }

  private dims(rows: number): number[] {
    const [H, W] = this.pre.spec.size;
    const C = this.pre.channels;
    return this.io.layout === 'NCHW' ? [rows, C, H, W] : [rows, H, W, C];
  }

  private feed(buf: InputBuffer, rows: number): OrtFeeds {
    return { [this.io.inputName]: ortTensor(this.io.inputDtype, buf, this.dims(rows)) };
  }

  private rowsFor(n: number): number {
    const fb = this.io.fixedBatch;
    if (fb !== null && n > fb) throw new WorkError(`internal: ${n} samples exceed the model's fixed batch ${fb}`);
    return fb ?? n;
  }

  /** An input buffer for `rows` model rows: `buf` when large enough, else one from the pool. */
  private take(rows: number, buf?: InputBuffer): { out: InputBuffer; own: boolean } {
    const need = rows * this.pre.sampleElems;
    if (buf && buf.length >= need) return { out: buf.subarray(0, need), own: false };
    const i = this.pool.findIndex((b) => b.length === need);
    return { out: i >= 0 ? this.pool.splice(i, 1)[0] : this.pre.alloc(rows), own: true };
  }

  async prepareImages(images: readonly Image[], buf?: InputBuffer): Promise<PreparedBatch> {
    return this.prepareWith(images.length, buf, (out) => this.pre.applyImages(images, out));
  }

  async prepareRendered(pixels: Uint8Array | Float32Array, n: number, buf?: InputBuffer): Promise<PreparedBatch> {
    return this.prepareWith(n, buf, (out) => this.pre.fill(pixels, n, out));
  }

  /** A feed for `n` samples whose input buffer `write` fills (fixed-batch models: zero padding). */
  private prepareWith(n: number, buf: InputBuffer | undefined, write: (out: InputBuffer) => void): PreparedBatch {
    const rows = this.rowsFor(n);
    const { out, own } = this.take(rows, buf);
    if (rows > n) out.fill(0, n * this.pre.sampleElems); // padding rows of a fixed-batch model
    write(out);
    const batch: PreparedBatch = { n, rows, feeds: this.feed(out, rows) };
    if (own) this.pooled.set(batch, out);
    return batch;
  }

  async prepare(pixels: Uint8Array, n: number, buf?: InputBuffer): Promise<PreparedBatch> {
    const prepped = this.pre.identity ? pixels : this.pre.renderPacked(pixels, n);
    return this.prepareWith(n, buf, (out) => this.pre.fill(prepped, n, out));
  }

  runRaw(feeds: OrtFeeds): Promise<OrtOutputs> {
    return this.session.run(feeds, [this.io.outputName]);
  }

  async infer(batch: PreparedBatch, out?: Float32Array, offset = 0): Promise<Float32Array> {
    if (this.spent.has(batch)) throw new WorkError('internal: a prepared batch was inferred twice (its buffer has been reused)');
    let res: OrtOutputs;
    try {
      res = await this.runRaw(batch.feeds);
    } finally {
      const b = this.pooled.get(batch);
      if (b) {
        this.pooled.delete(batch);
        this.spent.add(batch);
        if (this.pool.length < 4) this.pool.push(b);
      }
    }
    const t = res[this.io.outputName];
    const K = this.io.numClasses;
    if (!t || t.dims.length !== 2 || t.dims[0] !== batch.rows || (K !== null && t.dims[1] !== K)) {
      throw new WorkError(`${this.file}: output '${this.io.outputName}' came back as ${fmtShape(t ? [...t.dims] : [])}, expected [${batch.rows}, ${K}]`);
    }
    const k = t.dims[1];
    if (this.select) {
      // Class map: gather the selected outputs of each row (in float32; float16 outputs widened).
      const sel = this.select;
      const S = sel.length;
      const raw = t.data as unknown as Float32Array | Uint16Array;
      const wide = t.type === 'float16' && raw instanceof Uint16Array ? f16ToF32(raw.subarray(0, batch.n * k), new Float32Array(batch.n * k)) : (raw as Float32Array);
      const dst = out ?? new Float32Array(batch.n * S);
      for (let r = 0; r < batch.n; r++) for (let j = 0; j < S; j++) dst[offset + r * S + j] = wide[r * k + sel[j]];
      return dst;
    }
    const len = batch.n * k;
    const dst = out ?? new Float32Array(len);
    if (t.type === 'float32') {
      dst.set((t.data as Float32Array).subarray(0, len), offset);
    } else if (t.type === 'float16') {
      // Node < 24 has no Float16Array: onnxruntime-node hands float16 back as raw Uint16 bits.
      const data = t.data as unknown as Uint16Array | Float32Array;
      if (data instanceof Uint16Array) f16ToF32(data.subarray(0, len), dst.subarray(offset, offset + len));
      else dst.set(Float32Array.from(data.subarray(0, len)), offset);
    } else {
      throw new WorkError(`${this.file}: output '${this.io.outputName}' is ${t.type}, expected float32 or float16`);
    }
    return dst;
  }

  run(pixels: Uint8Array, n: number): Promise<Float32Array> {
    const sb = this.pre.data.height * this.pre.data.width * this.pre.data.channels;
    if (!Number.isInteger(n) || n < 0 || pixels.length < n * sb) {
      return Promise.reject(new WorkError(`teacher.run: ${n} samples need ${n * sb} bytes of pixels, got ${pixels.length}`));
    }
    return this.runChunks(n, (s, m) => {
      // One input buffer reused across calls (safe: runs are serialised through `queue`).
      const need = this.rowsFor(m) * this.pre.sampleElems;
      if (!this.buffer || this.buffer.length < need) this.buffer = this.pre.alloc(this.rowsFor(m));
      return this.prepare(pixels.subarray(s * sb, (s + m) * sb), m, this.buffer);
    });
  }

  runImages(images: readonly Image[]): Promise<Float32Array> {
    return this.runChunks(images.length, (s, m) => this.prepareImages(images.slice(s, s + m)));
  }

  runRendered(pixels: Uint8Array | Float32Array, n: number): Promise<Float32Array> {
    const sb = this.pre.sampleElems;
    if (!Number.isInteger(n) || n < 0 || pixels.length < n * sb) throw new WorkError(`teacher.runRendered: ${n} rendered samples need ${n * sb} bytes, got ${pixels.length}`);
    return this.runChunks(n, (s, m) => this.prepareRendered(pixels.subarray(s * sb, (s + m) * sb), m));
  }

  /** Serialised runs of `n` samples in model-sized chunks, each prepared by `prep(start, count)`. */
  private runChunks(n: number, prep: (start: number, count: number) => Promise<PreparedBatch>): Promise<Float32Array> {
    const job = this.queue.then(async () => {
      if (this.closed) throw new WorkError('teacher is closed');
      const K = this.info.numClasses;
      const out = new Float32Array(n * K);
      const chunk = this.io.fixedBatch ?? Math.max(n, 1);
      for (let s = 0; s < n; s += chunk) await this.infer(await prep(s, Math.min(chunk, n - s)), out, s * K);
      return out;
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** K of a model whose output declares a symbolic class dim: one run on a zero batch. */
  async probeNumClasses(): Promise<number> {
    const rows = this.io.fixedBatch ?? 1;
    const batch = { n: 0, rows, feeds: this.feed(this.pre.alloc(rows), rows) };
    const res = await this.runRaw(batch.feeds);
    const t = res[this.io.outputName];
    if (!t || t.dims.length !== 2) throw new UsageError(`${this.file}: output '${this.io.outputName}' is not 2-D when run`);
    return t.dims[1];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.session.release();
  }
}
