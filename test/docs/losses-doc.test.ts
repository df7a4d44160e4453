/**
 * docs/LOSSES.md stays true to the registry: every built-in loss (and each --logit-standardization
 * form) has a row whose defaults cell is what the registry resolves, in `--help`'s flag form.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { getOptionStyle, setOptionStyle } from '../../src/errors.js';
import { builtinLosses, defaultsText } from '../../src/student/losses/index.js';

const doc = readFileSync(new URL('../../docs/LOSSES.md', import.meta.url), 'utf8');

describe('docs/LOSSES.md', () => {
  // The style is process-wide (the CLI's flags vs the API's names): switched for this file only.
  let style: 'api' | 'flag';
  before(() => {
    style = getOptionStyle();
    setOptionStyle('flag');
  });
  after(() => setOptionStyle(style));
  for (const e of builtinLosses()) {
    for (const ls of e.standardized ? [false, true] : [false]) {
      const label = ls ? `${e.name} --logit-standardization` : e.name;
      it(`lists ${label} with the registry's defaults`, () => {
        const row = doc.split('\n').find((l) => l.startsWith(`| \`${label}\` |`));
        expect(row, `no row for ${label}`).to.not.equal(undefined);
        const cells = row!.split(' | ');
        const last = cells[cells.length - 1].replace(/ \|$/, '');
        const want = defaultsText(e, ls, 'paper');
        if (want === '') expect(last).to.equal('–');
        else expect(last.startsWith(`\`${want}\``), `${last} vs ${want}`).to.equal(true);
      });
    }
    it(`names ${e.name}'s source commits`, () => {
      for (const m of e.source.matchAll(/@ ([0-9a-f]{8})/g)) expect(doc).to.contain(m[1]);
    });
  }
});
