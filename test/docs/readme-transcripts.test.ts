/**
 * scripts/readme-check.ts's two halves: reading transcripts out of Markdown, and matching what a
 * command printed against what a transcript shows (only timings, rates, temporary names and a GPU
 * provider's missing-reason may differ). The run itself is `npm run readme-check`.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { lineMatches, matchOutput } from '../../scripts/readme/match.js';
import { parseTranscripts } from '../../scripts/readme/transcripts.js';

const md = [
  'Intro.',
  '',
  '```',
  '$ npx tfkd train --data fashion-mnist \\',
  '      --epochs 2 --out out/r',
  'epoch   1  acc 80.00 %  2.1 s',
  '…',
  'done',
  '$ npx tfkd export out/r --out m.onnx',
  '```',
  '',
  '```sh',
  '$ not a transcript (a language)',
  '```',
  '',
  '<!-- readme-check: $ npx tfkd demo -->',
  '```',
  'data: here',
  '',
  '```',
].join('\n');

describe('README transcripts: parsing', () => {
  const ts = parseTranscripts(md);
  it('reads each $ command with its continuation lines joined, and the lines it printed', () => {
    expect(ts.map((t) => t.command)).to.deep.equal(['npx tfkd train --data fashion-mnist --epochs 2 --out out/r', 'npx tfkd export out/r --out m.onnx', 'npx tfkd demo']);
    expect(ts[0].expected).to.deep.equal(['epoch   1  acc 80.00 %  2.1 s', '…', 'done']);
    expect(ts[0].line).to.equal(4);
    expect(ts[1].expected).to.deep.equal([]);
  });
  it('takes an output block announced by a readme-check comment, and skips fenced blocks with a language', () => {
    expect(ts[2]).to.deep.equal({ command: 'npx tfkd demo', expected: ['data: here'], line: 16 });
  });
  it('refuses output before the first command of a block', () => {
    expect(() => parseTranscripts('```\noutput\n$ cmd\n```')).to.throw(/output before/);
  });
  it('finds the README transcripts: the demo and the tour, each a tfkd or reference-script command', () => {
    const readme = parseTranscripts(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'));
    expect(readme[0].command).to.equal('npx tfkd demo');
    expect(readme.length).to.be.greaterThan(15);
    for (const t of readme) expect(t.command).to.match(/^(npx tfkd |\/usr\/bin\/python3 (scripts|examples)\/)/);
  });
});

describe('README transcripts: matching', () => {
  it('lets timings, rates, temporary names and a missing provider reason vary, nothing else', () => {
    expect(lineMatches('epoch 1: kd loss 1.1385, student test accuracy 85.04 % (39.5 s)', 'epoch 1: kd loss 1.1385, student test accuracy 85.04 % (71.7 s)')).to.equal(true);
    expect(lineMatches('epoch   1  train loss 2.2951 acc 68.12 %  2.1 s  *best', 'epoch 1 train loss 2.2951 acc 68.12 % 13.4 s *best')).to.equal(true);
    expect(lineMatches('epoch   1  train loss 2.2951 acc 68.12 %  2.1 s  *best', 'epoch 1 train loss 2.2951 acc 68.13 % 2.1 s *best')).to.equal(false);
    expect(lineMatches('[ 1/10] ran     precompute good    caches/1e78d4f4  3.6s', '[ 1/10] ran precompute good caches/1e78d4f4 12.0s')).to.equal(true);
    expect(lineMatches('[ 1/10] ran     precompute good    caches/1e78d4f4  3.6s', '[ 1/10] ran precompute good caches/1e78d4f5 3.6s')).to.equal(false);
    expect(lineMatches('out/c: 36 rows computed; provider cpu, 20 rows/s', 'out/c: 36 rows computed; provider cpu, 1234 rows/s')).to.equal(true);
    expect(lineMatches('out/c: 36 rows computed; provider cpu, 20 rows/s', 'out/c: 35 rows computed; provider cpu, 20 rows/s')).to.equal(false);
    expect(lineMatches('re-running out/runs/kd → /tmp/tfkd-repro-DZAm7h', 're-running out/runs/kd → /var/tmp/tfkd-repro-x9Q2b1')).to.equal(true);
    const webgpu = (printed: string) => lineMatches('  webgpu: not available (libvulkan.so.1 not found (apt install libvulkan1))', printed);
    expect(webgpu('  webgpu: not available (no Vulkan driver (no ICD manifest))')).to.equal(true);
    expect(webgpu('  webgpu: used (NVIDIA)')).to.equal(false);
    // "0 skipped", "2 seeds": a digit before an s that starts a word is not a duration.
    expect(lineMatches('10 ran, 0 skipped, 0 failed', '10 ran, 1 skipped, 0 failed')).to.equal(false);
  });

  it('matches … against any number of lines, and nothing else against a missing or extra line', () => {
    const shown = ['head', '…', 'tail'];
    expect(matchOutput(shown, ['head', 'tail']).ok).to.equal(true);
    expect(matchOutput(shown, ['head', 'a', 'b', 'tail']).ok).to.equal(true);
    expect(matchOutput(shown, ['head', 'a', 'tail', 'extra'])).to.deep.equal({ ok: false, detail: 'shown:   (end of the transcript)\nprinted: extra' });
    expect(matchOutput(['head', 'tail'], ['head', 'tale'])).to.deep.equal({ ok: false, detail: 'shown:   tail\nprinted: tale' });
    expect(matchOutput(['head', '…'], ['head', 'x', 'y']).ok).to.equal(true);
    expect(matchOutput([], ['something']).ok).to.equal(false);
  });
});
