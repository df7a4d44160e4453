/**
 * Several onnxruntime sessions of one model side by side ("lanes"), each in its own worker thread
 * with a share of the intra-op threads, so that a caller with several batches ready runs them at
 * once. Why: one session with N intra-op threads splits every operator into N pieces and waits for
 * the slowest at a barrier after each; on a machine where other threads (render workers, the JS
 * thread) take turns on the same cores, a preempted piece stalls the others (measured on 2 cores
 * with one render worker: 16 % of CPU time lost against bare inference + bare decode,
 * docs/PERFORMANCE.md "Issue 25, third session"). N one-thread sessions never wait for each other.
 *
 * The logits do not depend on the lane count: each lane runs the same graph with the same options
 * but the thread count, and onnxruntime's CPU kernels split work by output tiles, not by partial
 * sums (test/teacher/lanes.test.ts checks it on the test teachers; docs/CACHE.md: threads are not
 * part of the cache key). Only the CPU provider gets lanes: a GPU provider keeps one session.
 */
import { ortSessionFactory, type SessionFactory, type TeacherSession } from './providers.js';
import { workerSessionFactory } from './remote.js';
import type { OrtFeeds, OrtOutputs, OrtValueMetadata } from './ort.js';

/** Sessions that run side by side; `run` goes to the least busy one (ties: the first). */
export class SessionLanes implements TeacherSession {
  private readonly busy: number[];

  constructor(private readonly members: readonly TeacherSession[]) {
    this.busy = members.map(() => 0);
  }

  /** How many sessions run side by side. */
  get lanes(): number {
    return this.members.length;
  }

  get inputMetadata(): readonly OrtValueMetadata[] {
    return this.members[0].inputMetadata;
  }

  get outputMetadata(): readonly OrtValueMetadata[] {
    return this.members[0].outputMetadata;
  }

  run(feeds: OrtFeeds, fetches: readonly string[]): Promise<OrtOutputs> {
    let i = 0;
    for (let j = 1; j < this.busy.length; j++) if (this.busy[j] < this.busy[i]) i = j;
    this.busy[i]++;
    return this.members[i].run(feeds, fetches).finally(() => {
      this.busy[i]--;
    });
  }

  async release(): Promise<void> {
    await Promise.all(this.members.map((m) => m.release()));
  }
}

/** Intra-op threads of each of `lanes` sessions sharing `total` threads (the first ones get the remainder). */
export function laneThreads(total: number, lanes: number): number[] {
  const n = Math.max(1, Math.min(lanes, total));
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/**
 * A SessionFactory opening `lanes` worker-thread sessions (at most one per intra-op thread) that
 * share the threads the options ask for, for the CPU provider; any other provider, or one lane,
 * gets `single` (default: one in-process session).
 */
export function laneSessionFactory(lanes: number, single: SessionFactory = ortSessionFactory, member: SessionFactory = workerSessionFactory): SessionFactory {
  return async (model, options) => {
    const total = options.intraOpNumThreads ?? 1;
    const cpu = (options.executionProviders ?? []).every((p) => (typeof p === 'string' ? p : p.name) === 'cpu');
    const threads = laneThreads(total, lanes);
    if (!cpu || threads.length < 2) return single(model, options);
    const opened = await Promise.allSettled(threads.map((t) => member(model, { ...options, intraOpNumThreads: t })));
    const ok = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((s) => s.release().catch(() => undefined)));
      throw failed.reason;
    }
    return new SessionLanes(ok);
  };
}

/**
 * Lanes when none are asked for: one per intra-op thread on the CPU, at most 4, and no more than
 * fit 1 GiB of model copies (each lane holds its own weights).
 */
export function defaultLanes(threads: number, modelBytes: number): number {
  const byMemory = Math.max(1, Math.floor(2 ** 30 / Math.max(1, modelBytes)));
  return Math.max(1, Math.min(threads, 4, byMemory));
}
