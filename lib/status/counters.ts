// Request counters for `stableid status`: one count per request kind, bumped
// by the front-end's dispatcher (one Map update per request, no I/O). Names
// are looked up only when a snapshot is taken.

export interface Counts {
  total: number;
  /** Request name (LOOKUP, Twalk ...) -> how many arrived since the start. */
  byOp: Record<string, number>;
}

export class RequestCounter {
  private total = 0;
  private readonly byCode = new Map<number, number>();

  constructor(private readonly nameOf: (code: number) => string) {}

  readonly count = (code: number): void => {
    this.total++;
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  };

  snapshot(): Counts {
    const byOp: Record<string, number> = {};
    for (const [code, n] of [...this.byCode].sort((a, b) => b[1] - a[1])) byOp[this.nameOf(code)] = n;
    return { total: this.total, byOp };
  }
}

/** Counts kept elsewhere (the FUSE addon counts by opcode), in snapshot form. */
export function countsSnapshot(byName: Record<string, number>): Counts {
  const byOp: Record<string, number> = {};
  let total = 0;
  for (const [name, n] of Object.entries(byName).sort((a, b) => b[1] - a[1])) {
    byOp[name] = n;
    total += n;
  }
  return { total, byOp };
}
