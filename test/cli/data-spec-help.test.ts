import { expect } from 'chai';
import type { Command } from 'commander';
import { DATA_KINDS, DATA_SOURCES } from '../../src/data/spec.js';
import { buildProgram } from '../../src/cli/main.js';

/** Every (sub-)command, depth first, with its full name. */
function walk(c: Command, prefix = ''): Array<[string, Command]> {
  const name = `${prefix} ${c.name()}`.trim();
  return [[name, c], ...c.commands.flatMap((s) => walk(s, name))];
}

describe('cli: the data-spec help text', () => {
  it('every --data option and <spec> argument lists every form of the data sources\' registry', async () => {
    const program = await buildProgram();
    const seen: string[] = [];
    for (const [name, c] of walk(program)) {
      const texts = [
        ...c.options.filter((o) => o.long === '--data').map((o) => o.description),
        ...c.registeredArguments.filter((a) => a.name() === 'spec').map((a) => a.description),
      ];
      for (const t of texts) {
        seen.push(name);
        for (const k of DATA_KINDS) expect(t, `${name}: ${k}`).to.include(DATA_SOURCES[k].form);
      }
    }
    // The commands that read data (a new one with --data is checked too; these must not lose it).
    for (const n of ['tfkd precompute', 'tfkd train', 'tfkd eval', 'tfkd verify', 'tfkd data info', 'tfkd data views', 'tfkd bench precompute', 'tfkd bench train']) {
      expect(seen, n).to.include(n);
    }
  });
});
