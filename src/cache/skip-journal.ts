/**
 * The `--skip-bad` journal of precompute: samples that could not be decoded, listed while a run is
 * open so that a resumed run still knows the ones in the rows it keeps. The manifest takes the list
 * when the cache is finished, and the file goes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The journal of skipped samples while a `--skip-bad` run is open (removed once the manifest lists them). */
const SKIPPED = 'skipped.jsonl';

/** A sample precompute could not decode (`--skip-bad`): its rows hold zero logits. */
export interface SkippedSample {
  sample: number;
  file: string;
  reason: string;
}

/**
 * The samples skipped so far, journalled in SKIPPED: appended and fsynced before the rows they
 * belong to are handed to the writer, so the journal never lists fewer than the committed rows hold.
 */
export class SkipJournal {
  private readonly skipped = new Map<number, SkippedSample>();

  private constructor(private readonly file: string) {}

  /** A fresh run starts an empty journal; a resumed one keeps the entries of samples before `firstOpen`. */
  static open(out: string, state: 'fresh' | 'resumed', firstOpen: number): SkipJournal {
    const j = new SkipJournal(path.join(out, SKIPPED));
    if (state === 'fresh') fs.rmSync(j.file, { force: true });
    else if (fs.existsSync(j.file)) {
      for (const line of fs.readFileSync(j.file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as SkippedSample;
          if (Number.isInteger(e.sample) && e.sample < firstOpen) j.skipped.set(e.sample, e);
        } catch {
          // a torn last line from a kill: its rows were not committed either
        }
      }
    }
    return j;
  }

  get size(): number {
    return this.skipped.size;
  }

  /** Journals the samples of `now` not listed yet (before their rows reach the writer). */
  record(now: Map<number, SkippedSample> | undefined): void {
    const fresh = [...(now?.values() ?? [])].filter((e) => !this.skipped.has(e.sample));
    if (fresh.length) {
      const fd = fs.openSync(this.file, 'a');
      try {
        fs.writeSync(fd, fresh.map((e) => `${JSON.stringify(e)}\n`).join(''));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const e of fresh) this.skipped.set(e.sample, e);
  }

  /** Every skipped sample, in sample order (for the manifest). */
  sorted(): SkippedSample[] {
    return [...this.skipped.values()].sort((a, b) => a.sample - b.sample);
  }

  /** The manifest lists them now. */
  remove(): void {
    fs.rmSync(this.file, { force: true });
  }
}
