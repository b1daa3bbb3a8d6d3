// Node edge: the expansion journal on disk. An append-only JSON-lines file: a header line naming the
// configuration, then one line per finished batch, each appended and fsynced before the next batch
// starts. A kill loses at most the batch in flight; a torn last line is cut off on reopening.
import { closeSync, existsSync, mkdirSync, openSync, statSync, truncateSync } from 'node:fs';
import { appendJsonLine, completeLines } from '../util/jsonl-file.js';
import { dirname } from 'node:path';
import type { ExpansionBatch, ExpansionJournal } from './expand.js';

export interface JournalHeader {
  kind: 'v2l-expansion-journal';
  /** Everything that decides the batches' content; a journal with another header is not reused. */
  config: Record<string, string | number>;
}

export class FileExpansionJournal implements ExpansionJournal {
  private readonly batches: ExpansionBatch[] = [];
  private fd: number;

  constructor(readonly path: string, config: Record<string, string | number>) {
    const header: JournalHeader = { kind: 'v2l-expansion-journal', config };
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      let goodBytes = 0;
      for (const [n, line, end] of completeLines(path)) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          break; // a torn write: keep what came before
        }
        if (n === 1) {
          const h = value as JournalHeader;
          if (h?.kind !== 'v2l-expansion-journal') throw new Error(`${path}: not an expansion journal (first line has no kind "v2l-expansion-journal")`);
          const diff = diffConfig(h.config ?? {}, config);
          if (diff) throw new Error(`${path}: this expansion journal was made with a different configuration (${diff}); delete it or build into another --out folder`);
        } else {
          this.batches.push(value as ExpansionBatch);
        }
        goodBytes = end;
      }
      if (goodBytes < statSync(path).size) truncateSync(path, goodBytes);
      this.fd = openSync(path, 'a');
      if (goodBytes === 0) this.writeLine(header);
    } else {
      this.fd = openSync(path, 'a');
      this.writeLine(header);
    }
  }

  done(): readonly ExpansionBatch[] {
    return this.batches;
  }

  append(batch: ExpansionBatch): void {
    this.writeLine(batch);
    this.batches.push(batch);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private writeLine(value: unknown): void {
    appendJsonLine(this.fd, value);
  }
}

function diffConfig(was: Record<string, unknown>, now: Record<string, unknown>): string {
  const keys = new Set([...Object.keys(was), ...Object.keys(now)]);
  const out: string[] = [];
  for (const k of keys) if (JSON.stringify(was[k]) !== JSON.stringify(now[k])) out.push(`${k}: ${JSON.stringify(was[k])} then, ${JSON.stringify(now[k])} now`);
  return out.join('; ');
}
