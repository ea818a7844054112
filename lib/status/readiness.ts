// Telling whoever started the server that the mount answers, or why it will
// not: systemd through $NOTIFY_SOCKET (Type=notify, sd_notify(3) messages)
// and the mount(8) helper through an inherited pipe (--ready-fd N: one line,
// "READY" or "FAIL <reason>"). READY goes out exactly once, and only after
// the caller has seen the mount answer; a failure after READY is logged, not
// reported here.
import { closeSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Readiness {
  /** The mount answers. Sends READY (once; later calls do nothing). */
  ready(status: string): void;
  /** The start failed: the one-line reason. Ignored after ready(). */
  failed(reason: string): void;
  /** The server is stopping (systemd shows "deactivating"). */
  stopping(): void;
}

interface NotifyAddon {
  notify(socketPath: string, message: string): void;
}

const require = createRequire(import.meta.url);
let addon: NotifyAddon | undefined;
const notify = (path: string, message: string) => (addon ??= require('../../../build/Release/stableid_notify.node') as NotifyAddon).notify(path, message);

export interface ReadinessOptions {
  /** $NOTIFY_SOCKET: a path or @abstract name. */
  notifySocket?: string;
  /** A pipe inherited from the mount helper. */
  readyFd?: number;
  warn: (msg: string) => void;
  /** For tests: how a datagram is sent (default: the addon). */
  send?: (socketPath: string, message: string) => void;
}

export class StartReporter implements Readiness {
  private state: 'starting' | 'ready' | 'failed' = 'starting';
  private readonly send: (socketPath: string, message: string) => void;

  constructor(private readonly opts: ReadinessOptions) {
    this.send = opts.send ?? notify;
  }

  ready(status: string): void {
    if (this.state !== 'starting') return;
    this.state = 'ready';
    this.toSystemd(`READY=1\nSTATUS=${oneLine(status)}`);
    this.toHelper('READY');
  }

  failed(reason: string): void {
    if (this.state !== 'starting') return;
    this.state = 'failed';
    this.toSystemd(`STATUS=${oneLine(reason)}`);
    this.toHelper(`FAIL ${oneLine(reason)}`);
  }

  stopping(): void {
    this.toSystemd('STOPPING=1\nSTATUS=stopping');
  }

  private toSystemd(message: string): void {
    const path = this.opts.notifySocket;
    if (!path) return;
    try {
      this.send(path, message);
    } catch (err) {
      this.opts.warn(`cannot notify systemd at ${path}: ${(err as Error).message}`);
    }
  }

  private toHelper(line: string): void {
    const fd = this.opts.readyFd;
    if (fd === undefined) return;
    try {
      writeSync(fd, `${line}\n`);
    } catch {
      // The helper is gone (killed, or mount(8) interrupted): nobody is waiting.
    }
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    this.opts.readyFd = undefined;
  }
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' | ');
