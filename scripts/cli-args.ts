/** `--name value` from process.argv for the small scripts here; `def` when absent, else an error. */
export function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (def === undefined) throw new Error(`--${name} is required`);
    return def;
  }
  return process.argv[i + 1];
}
