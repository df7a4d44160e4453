/**
 * The transcripts a Markdown file shows: fenced blocks whose lines start with `$ ` (a command, its
 * `\` continuation lines, then what it printed), and output blocks announced by an HTML comment
 * `<!-- readme-check: $ COMMAND -->` on the line before the fence (the README's quick start shows
 * the command in one block and its output in another). A line that is only `…` stands for any
 * number of lines, as it does for a reader.
 */

export interface Transcript {
  /** The command as bash runs it (continuations joined, the `$ ` dropped). */
  command: string;
  /** What it printed, as shown (may hold `…` lines). */
  expected: string[];
  /** 1-based line of the command in the file. */
  line: number;
}

const FENCE = /^```(\S*)\s*$/;
const ANNOUNCE = /^<!--\s*readme-check:\s*\$ (.+?)\s*-->\s*$/;

/** Transcripts of one Markdown text, in document order. */
export function parseTranscripts(markdown: string): Transcript[] {
  const lines = markdown.split('\n');
  const out: Transcript[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i]);
    if (!fence) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const body = lines.slice(i + 1, end);
    const announced = i > 0 ? ANNOUNCE.exec(lines[i - 1]) : null;
    if (announced) out.push({ command: announced[1], expected: trimBlank(body), line: i });
    else if (fence[1] === '' && body.some((l) => l.startsWith('$ '))) out.push(...blockTranscripts(body, i + 2));
    i = end;
  }
  return out;
}

/** The `$ ` commands of one block (`first`: the file line of its first body line). */
function blockTranscripts(body: string[], first: number): Transcript[] {
  const out: Transcript[] = [];
  let cur: Transcript | null = null;
  for (let j = 0; j < body.length; j++) {
    const l = body[j];
    if (!l.startsWith('$ ')) {
      if (!cur) throw new Error(`line ${first + j}: output before the block's first "$ " command`);
      cur.expected.push(l);
      continue;
    }
    const start = j;
    let command = l.slice(2);
    // A trailing backslash continues the command on the next line, as in the shell.
    while (command.endsWith('\\') && j + 1 < body.length) command = `${command.slice(0, -1).trimEnd()} ${body[++j].trim()}`;
    cur = { command, expected: [], line: first + start };
    out.push(cur);
  }
  for (const t of out) t.expected = trimBlank(t.expected);
  return out;
}

function trimBlank(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a].trim() === '') a++;
  while (b > a && lines[b - 1].trim() === '') b--;
  return lines.slice(a, b);
}
