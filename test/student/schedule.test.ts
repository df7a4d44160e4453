/** Learning-rate schedules against hand-computed values. */
import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { checkSchedule, lrAt, officialSchedule, type ScheduleConfig } from '../../src/student/schedule.js';

const close = (a: number, b: number) => expect(a).to.be.closeTo(b, 1e-12 + 1e-12 * Math.abs(b));

describe('student/schedule', () => {
  it('official recipe (batch 128, 391 steps/epoch): linear warm-up in epoch 0, then ×0.2 at 60/120/160', () => {
    const c = officialSchedule(128);
    checkSchedule(c);
    const n = 391;
    close(lrAt(0, n, c), 0.1 / 391); // WarmUpLR stepped before batch 0: base·1/N
    close(lrAt(195, n, c), (0.1 * 196) / 391);
    close(lrAt(390, n, c), 0.1); // last warm-up batch reaches the base lr
    close(lrAt(391, n, c), 0.1); // epoch 1
    close(lrAt(59 * n + 390, n, c), 0.1); // last step of epoch 59
    close(lrAt(60 * n, n, c), 0.02);
    close(lrAt(120 * n, n, c), 0.004);
    close(lrAt(160 * n, n, c), 0.0008);
    close(lrAt(199 * n + 390, n, c), 0.0008);
    close(officialSchedule(256).lr, 0.2);
  });

  it('step: PyTorch MultiStepLR (default γ 0.1), no warm-up', () => {
    const c: ScheduleConfig = { kind: 'step', lr: 1, milestones: [2, 4] };
    expect([0, 1, 2, 3, 4, 5].map((e) => lrAt(e * 10, 10, c))).to.deep.equal([1, 1, 0.1, 0.1, 1 * 0.1 ** 2, 0.1 ** 2]);
  });

  it('cosine per step from lr to 0 over the run, and stays at the floor', () => {
    const c: ScheduleConfig = { kind: 'cosine', lr: 0.1, epochs: 10 };
    const n = 10;
    close(lrAt(0, n, c), 0.1);
    close(lrAt(25, n, c), (0.1 * (1 + Math.SQRT1_2)) / 2); // f = 1/4: 0.0853553…
    close(lrAt(50, n, c), 0.05);
    close(lrAt(100, n, c), 0);
    close(lrAt(130, n, c), 0);
  });

  it('cosine to a minimum lr, per epoch, after a 2-epoch warm-up', () => {
    const c: ScheduleConfig = { kind: 'cosine', lr: 1, minLr: 0.1, epochs: 6, granularity: 'epoch', warmupEpochs: 2 };
    const n = 4;
    // warm-up: steps 0..7 ramp (s+1)/8 of the cosine's start value (1)
    close(lrAt(0, n, c), 1 / 8);
    close(lrAt(7, n, c), 1);
    // epochs 2..5: f = (e − 2)/4 → 1, 0.1 + 0.9·(1 + cos(πf))/2; constant within an epoch
    close(lrAt(8, n, c), 1);
    close(lrAt(11, n, c), 1);
    close(lrAt(12, n, c), 0.1 + (0.9 * (1 + Math.SQRT1_2)) / 2);
    close(lrAt(16, n, c), 0.55);
    close(lrAt(20, n, c), 0.1 + (0.9 * (1 - Math.SQRT1_2)) / 2);
    close(lrAt(24, n, c), 0.1);
  });

  it('linear warm-up over a fractional number of epochs, per step, on a constant schedule', () => {
    const c: ScheduleConfig = { kind: 'constant', lr: 0.4, warmupEpochs: 0.5 };
    expect([0, 1, 2, 3, 4, 5].map((s) => lrAt(s, 8, c))).to.deep.equal([0.1, 0.2, 0.30000000000000004, 0.4, 0.4, 0.4]);
  });

  it('BAD CALL - bad schedules are UsageErrors naming the flag; lrAt refuses bad steps', () => {
    expect(() => checkSchedule({ kind: 'poly' as 'step', lr: 1 })).to.throw(UsageError, /unknown schedule "poly"/);
    expect(() => checkSchedule({ kind: 'step', lr: -1 })).to.throw(UsageError, /--lr -1/);
    expect(() => checkSchedule({ kind: 'step', lr: 1, milestones: [60, 30] })).to.throw(UsageError, /--milestones 60,30/);
    expect(() => checkSchedule({ kind: 'step', lr: 1, gamma: 0 })).to.throw(UsageError, /--gamma 0/);
    expect(() => checkSchedule({ kind: 'cosine', lr: 1 })).to.throw(UsageError, /--epochs/);
    expect(() => checkSchedule({ kind: 'cosine', lr: 1, epochs: 2, warmupEpochs: 2 })).to.throw(UsageError, /must exceed the warm-up/);
    expect(() => checkSchedule({ kind: 'constant', lr: 1, warmupEpochs: -1 })).to.throw(UsageError, /--warmup -1/);
    expect(() => lrAt(-1, 10, { kind: 'constant', lr: 1 })).to.throw(/step must be an integer/);
    expect(() => lrAt(0, 0, { kind: 'constant', lr: 1 })).to.throw(/stepsPerEpoch/);
  });
});
