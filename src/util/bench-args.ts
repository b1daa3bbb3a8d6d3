// The benchmarks' one argument parser (`npm run bench -- <name> [options]`, dispatched by
// scripts/bench.ts): `--name value` or `--name=value`; names may be given with or without "--".
// A flag given without its value is an error naming it, not a silent default.

const flagName = (name: string) => (name.startsWith('--') ? name : `--${name}`);

/** The value of `--name`, or undefined when absent. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const flag = flagName(name);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      return v;
    }
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** `--name`'s value, else `dflt`. */
export function argString(args: readonly string[], name: string, dflt: string): string {
  return argValue(args, name) ?? dflt;
}

/** `--name`'s value as a positive number (an integer when `integer`), else `dflt`. */
export function argNumber(args: readonly string[], name: string, dflt: number, opts: { integer?: boolean } = {}): number {
  const v = argValue(args, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (opts.integer && !Number.isInteger(n))) {
    throw new Error(`${flagName(name)} must be a positive ${opts.integer ? 'integer' : 'number'} (got "${v}")`);
  }
  return n;
}

/** Whether the bare flag `--name` is given. */
export function hasFlag(args: readonly string[], name: string): boolean {
  return args.includes(flagName(name));
}
