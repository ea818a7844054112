import type { CommandModule } from 'yargs';
import type { Io } from './io.js';

export interface Context {
  io: Io;
  /** Set by a handler to choose the process exit code (default 0). */
  exitCode: number;
  /**
   * Resolves when the process is asked to stop (SIGINT/SIGTERM). Commands that
   * serve call it; signal handlers are installed only on the first call, so
   * short commands keep the default Ctrl-C behaviour.
   */
  waitForStop(): Promise<NodeJS.Signals>;
}

/**
 * The values of an option that may be given several times. Such options are
 * not yargs arrays: an array option swallows the positionals after it
 * (`-o ro SRC MNT` would make SRC and MNT options).
 */
export function repeated(v: unknown): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CommandFactory = (ctx: Context) => CommandModule<any, any>;
