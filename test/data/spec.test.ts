import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_FASHION_MNIST_DIR, formatDataSpec, parseDataSpec } from '../../src/data/spec.js';

describe('data/spec', () => {
  it('parses every kind', () => {
    expect(parseDataSpec('fashion-mnist')).to.deep.equal({ kind: 'fashion-mnist', dir: DEFAULT_FASHION_MNIST_DIR });
    expect(parseDataSpec('fashion-mnist:/x/y')).to.deep.equal({ kind: 'fashion-mnist', dir: '/x/y' });
    expect(parseDataSpec('mnist:/m')).to.deep.equal({ kind: 'mnist', dir: '/m' });
    expect(parseDataSpec('cifar10:/c')).to.deep.equal({ kind: 'cifar10', dir: '/c' });
    expect(parseDataSpec('cifar100:/c:d')).to.deep.equal({ kind: 'cifar100', dir: '/c:d' }); // DIR may hold colons
    expect(parseDataSpec('folder:/f')).to.deep.equal({ kind: 'folder', dir: '/f' });
    expect(parseDataSpec('synthetic:100:5:8x9x3')).to.deep.equal({ kind: 'synthetic', n: 100, k: 5, height: 8, width: 9, channels: 3, seed: 0 });
    expect(parseDataSpec('synthetic:10:2:4x4x1:77')).to.include({ kind: 'synthetic', seed: 77 });
  });

  it('resolves relative directories and formats a canonical string', () => {
    expect(parseDataSpec('folder:rel/dir')).to.deep.equal({ kind: 'folder', dir: `${process.cwd()}/rel/dir` });
    expect(formatDataSpec(parseDataSpec('synthetic:100:5:8x8x3'))).to.equal('synthetic:100:5:8x8x3:0');
    expect(formatDataSpec(parseDataSpec('fashion-mnist'))).to.equal(`fashion-mnist:${DEFAULT_FASHION_MNIST_DIR}`);
  });

  const bad: Array<[string, RegExp]> = [
    ['nonsense:x', /unknown data set kind "nonsense".*valid: fashion-mnist/],
    ['', /empty data spec/],
    ['mnist', /mnist needs a directory/],
    ['cifar10:', /cifar10 needs a directory/],
    ['synthetic:100:5', /expected synthetic:N:K:HxWxC/],
    ['synthetic:100:5:8x8', /shape must be HxWxC/],
    ['synthetic:0:5:8x8x3', /N must be in/],
    ['synthetic:10:1:8x8x3', /K must be in/],
    ['synthetic:10:5:8x8x5', /C must be in/],
    ['synthetic:1e3:5:8x8x3', /N must be an integer/],
    ['synthetic:10:5:8x8x3:-1', /seed must be an integer/],
    ['synthetic:10:5:8x8x3:1:2', /expected synthetic/],
  ];
  for (const [spec, re] of bad) {
    it(`BAD CALL - "${spec}" is a UsageError`, () => {
      let err: unknown;
      try {
        parseDataSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UsageError);
      expect((err as UsageError).exitCode).to.equal(2);
      expect((err as UsageError).message).to.match(re);
      expect((err as UsageError).message).to.not.include('\n');
    });
  }
});
