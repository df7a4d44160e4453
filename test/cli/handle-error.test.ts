import { expect } from 'chai';
import { CommanderError } from 'commander';
import { handleError } from '../../src/cli/handle-error.js';
import { UsageError, WorkError } from '../../src/errors.js';

describe('cli/handleError', () => {
  const run = (err: unknown) => {
    let out = '';
    const code = handleError(err, (s) => (out += s));
    return { code, out };
  };
  it('maps a UsageError to exit 2 with one line and its hint', () => {
    const { code, out } = run(new UsageError('unknown data set kind "nonsense"', 'try fashion-mnist'));
    expect(code).to.equal(2);
    expect(out).to.equal('tfkd: unknown data set kind "nonsense"\nhint: try fashion-mnist\n');
  });
  it('maps a WorkError to exit 1', () => {
    expect(run(new WorkError('checksum mismatch')).code).to.equal(1);
  });
  it('maps an unexpected error to exit 1 with its message', () => {
    const { code, out } = run(new Error('boom'));
    expect(code).to.equal(1);
    expect(out).to.equal('tfkd: boom\n');
  });
  it("maps commander's parse errors to tfkd's format (exit 2, one line, a hint); help and --version are not errors", () => {
    const unknown = run(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--bogus'"));
    expect(unknown).to.deep.equal({ code: 2, out: "tfkd: unknown option '--bogus'\nhint: tfkd --help lists the options\n" });
    const typo = run(new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'trian'\n(Did you mean train?)"));
    expect(typo).to.deep.equal({ code: 2, out: "tfkd: unknown command 'trian'\nhint: did you mean train? (tfkd --help lists the commands)\n" });
    for (const code of ['commander.helpDisplayed', 'commander.version']) expect(run(new CommanderError(0, code, '(outputHelp)'))).to.deep.equal({ code: 0, out: '' });
  });
  it('an operating-system error keeps its path on the one line; --verbose adds the stack', () => {
    const e = Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR', path: '/tmp/x' });
    expect(run(e).out).to.equal('tfkd: EISDIR: illegal operation on a directory, read (/tmp/x)\n');
    let out = '';
    handleError(new UsageError('bad'), (s) => (out += s), { verbose: true });
    expect(out).to.match(/^tfkd: bad\nUsageError: bad\n\s+at /);
  });
});
