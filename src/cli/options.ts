// Option parsers shared by the command files: each checks one flag's value and names the flag in its error.

export function int(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got "${v}")`);
    return n;
  };
}

export function num(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number (got "${v}")`);
    return n;
  };
}

export function intList(name: string): (v: string) => number[] {
  return (v) => {
    const xs = v.split(',').filter((s) => s.trim() !== '').map(Number);
    if (xs.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`--${name} must be a comma-separated list of positive integers (got "${v}")`);
    return xs;
  };
}

export function oneOf<T extends string>(name: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${values.join(', ')} (got "${v}")`);
    return v as T;
  };
}

/** Repeatable flag: each occurrence appends. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
