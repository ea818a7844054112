// `stableid smb-conf MNT [--share NAME] [--macos]`: print an smb.conf share
// section for a stableid mountpoint. docs/samba.md explains each line; the
// Samba tests run smbd with exactly this text.
import { basename, resolve } from 'node:path';
import { FSTYPE, mountAt } from '../../fuse/mountinfo.js';
import type { CommandFactory } from '../context.js';
import { UsageError } from '../io.js';

export interface SnippetOptions {
  /** The stableid mountpoint (absolute). */
  path: string;
  /** The share name, between the brackets. */
  share: string;
  /** Load vfs_fruit (and what it needs) for macOS clients. */
  macos?: boolean;
}

export function smbConfSnippet({ path, share, macos = false }: SnippetOptions): string {
  const vfs = macos ? 'catia fruit streams_xattr fileid' : 'fileid';
  return `[${share}]
   # The stableid mountpoint itself (or a directory inside it), never a directory
   # that contains it: Samba reports st_ino as the FileId only for files on the
   # share's own device, and builds FileIds from st_dev for the rest.
   path = ${path}
   read only = no
   # Durable and persistent handles are matched by (st_dev, st_ino) unless vfs_fileid
   # says otherwise; a FUSE mount gets a new st_dev on every mount, so derive the
   # device part from the filesystem's name, which stableid keeps across mounts.
   vfs objects = ${vfs}
   fileid:algorithm = fsname
   # vfs_fruit answers macOS clients with FileId 0 unless told not to; stableid's
   # ids never move, so let macOS trust them.
   fruit:zero_file_id = no
`;
}

/** A share name smb.conf accepts: no brackets, no line breaks, not too long. */
function checkShareName(name: string): string {
  if (!name || /[[\]\n\r\\/]/.test(name) || name.length > 80)
    throw new UsageError(`invalid share name ${JSON.stringify(name)}: use letters, digits, - or _ (at most 80)`);
  return name;
}

export const smbConfCommand: CommandFactory = (ctx) => ({
  command: 'smb-conf <mnt>',
  describe: 'print an smb.conf share section for a stableid mountpoint',
  builder: (y) =>
    y
      .positional('mnt', { type: 'string', demandOption: true, describe: 'the stableid mountpoint' })
      .option('share', { type: 'string', describe: 'share name (default: the mountpoint basename)' })
      .option('macos', { type: 'boolean', default: false, describe: 'also load vfs_fruit for macOS clients' }),
  handler: async (args) => {
    const argv = args as unknown as { mnt: string; share?: string; macos: boolean };
    const path = resolve(argv.mnt);
    if (/[\n\r]/.test(path)) throw new UsageError(`mountpoint ${JSON.stringify(path)} has a line break`);
    // smb.conf expands %-macros (%U, %S ...) in paths and has no escape for them.
    if (path.includes('%')) throw new UsageError(`mountpoint ${path} contains %, which smb.conf would expand: rename it`);
    const share = checkShareName(argv.share ?? basename(path));
    // A warning, not an error: the snippet may be written before the mount runs.
    const mount = await mountAt(path);
    if (mount === undefined)
      ctx.io.err(`stableid: note: ${path} is not mounted now; point the share at the mountpoint stableid-mount uses`);
    else if (mount.fstype !== FSTYPE)
      ctx.io.err(`stableid: warning: ${path} is a ${mount.fstype} mount, not a stableid mount (${FSTYPE})`);
    ctx.io.out(smbConfSnippet({ path, share, macos: argv.macos }));
  },
});
