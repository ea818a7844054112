// What `stableid status` shows: one snapshot of a serving process, built at
// the moment it is asked from small views each part of the server hands in.
// The views are functions so that whoever owns a table (FuseOps' nodes, a 9P
// connection's fids) decides how it is counted; status only reads.
import type { Counts } from './counters.js';

export interface FuseView {
  mountpoint: string;
  /** Mount options as given (fstab-only ones left out). */
  options: string[];
  /** Files the kernel holds a reference to (FUSE nodes not yet forgotten). */
  openNodes(): number;
  /** FUSE requests that reached JavaScript (reads and writes served by the addon's threads are not among them). */
  requests(): Counts;
}

export interface NinepView {
  addresses: string[];
  /** Open connections and the fids they hold. */
  connections(): { connections: number; fids: number };
  requests(): Counts;
}

export interface TableView {
  /** Where new prefixes are written (xattrs on SRC or a state file). */
  where: string;
  /** Prefixes handed out (1..65535); prefix 0, SRC's own filesystem, is not counted. */
  prefixes: number;
}

export interface StatusViews {
  source: string;
  table?: () => TableView;
  fuse?: FuseView;
  ninep?: NinepView;
  /** Where this process logs, when it knows (the mount helper's log file). */
  log?: string;
}

export type FrontendStatus =
  | { kind: 'fuse'; mountpoint: string; options: string[]; openNodes: number; requests: Counts }
  | { kind: '9p'; addresses: string[]; connections: number; openFids: number; requests: Counts };

export interface StatusSnapshot {
  pid: number;
  /** When it started serving (ISO 8601, UTC). */
  since: string;
  uptimeSeconds: number;
  version: string;
  source: string;
  mountpoint?: string;
  table?: TableView;
  frontends: FrontendStatus[];
  log?: string;
}

export function takeSnapshot(views: StatusViews, since: Date, version: string): StatusSnapshot {
  const frontends: FrontendStatus[] = [];
  const { fuse, ninep } = views;
  if (fuse) frontends.push({ kind: 'fuse', mountpoint: fuse.mountpoint, options: fuse.options, openNodes: fuse.openNodes(), requests: fuse.requests() });
  if (ninep) {
    const c = ninep.connections();
    frontends.push({ kind: '9p', addresses: ninep.addresses, connections: c.connections, openFids: c.fids, requests: ninep.requests() });
  }
  return {
    pid: process.pid,
    since: since.toISOString(),
    uptimeSeconds: Math.round((Date.now() - since.getTime()) / 100) / 10,
    version,
    source: views.source,
    mountpoint: fuse?.mountpoint,
    table: views.table?.(),
    frontends,
    log: views.log,
  };
}

/** The same numbers on one log line (SIGUSR1). */
export function summaryLine(s: StatusSnapshot): string {
  const parts = [`status: pid ${s.pid}`];
  if (s.table) parts.push(`${s.table.prefixes} prefixes in ${s.table.where}`);
  for (const f of s.frontends) {
    if (f.kind === 'fuse') parts.push(`fuse ${f.openNodes} open nodes, ${f.requests.total} requests`);
    else parts.push(`9p ${f.connections} connections, ${f.openFids} fids, ${f.requests.total} requests`);
  }
  return parts.join('; ');
}
