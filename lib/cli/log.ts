// The server's log: one line per event, each with a level. Where stderr
// goes decides the shape of a line:
//   a terminal         stableid: warning: MESSAGE          (info has no level word)
//   systemd's journal  <4>warning: MESSAGE                 (journald reads the <N> as the priority)
//   anything else      2026-12-01T10:00:00.000Z stableid[PID] TAG warning: MESSAGE
// The last is what the mount(8) helper's log file holds; TAG names the mount
// when several share one file. Debug lines appear only with
// NODE_DEBUG=stableid (nothing per request unless asked for).
import { fstatSync } from 'node:fs';
import { debuglog } from 'node:util';
import type { Io } from './io.js';

export type Level = 'error' | 'warning' | 'notice' | 'info' | 'debug';
export type LogFormat = 'tty' | 'journal' | 'file';

// syslog(3) priorities, as journald reads them from a "<N>" prefix.
const priority: Record<Level, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  notice(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export interface LoggerOptions {
  io: Io;
  format?: LogFormat;
  /** Shown in file lines after the pid (the mountpoint). */
  tag?: string;
  now?: () => Date;
}

const trace = debuglog('stableid');

export function createLogger(opts: LoggerOptions): Logger {
  const format = opts.format ?? detectLogFormat();
  const now = opts.now ?? (() => new Date());
  const tag = opts.tag ? ` ${opts.tag}` : '';
  const line = (level: Level, msg: string): void => {
    const text = msg.replace(/^stableid: /, '').replace(/\s*\n\s*/g, ' | ');
    if (format === 'journal') opts.io.err(`<${priority[level]}>${level}: ${text}`);
    else if (format === 'tty') opts.io.err(`stableid: ${level === 'info' || level === 'notice' ? '' : `${level}: `}${text}`);
    else opts.io.err(`${now().toISOString()} stableid[${process.pid}]${tag} ${level}: ${text}`);
  };
  return {
    error: (m) => line('error', m),
    warn: (m) => line('warning', m),
    notice: (m) => line('notice', m),
    info: (m) => line('info', m),
    debug: (m) => trace.enabled && line('debug', m),
  };
}

/**
 * systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connected to stderr; a child that redirected stderr elsewhere inherits the
 * variable, so it counts only while it still names fd 2.
 */
export function detectLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const journal = env.JOURNAL_STREAM;
  if (journal) {
    try {
      const st = fstatSync(2, { bigint: true });
      if (journal === `${st.dev}:${st.ino}`) return 'journal';
    } catch {
      /* no fd 2 */
    }
  }
  return process.stderr.isTTY ? 'tty' : 'file';
}
