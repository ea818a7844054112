// Every CLI command, imported explicitly (yargs cannot load a command
// directory under ESM). Each module exports a yargs CommandModule factory
// taking the context (io, and a slot for the exit code).
import { idCommand } from './commands/id.js';
import { mountCommand } from './commands/mount.js';
import { serve9pCommand } from './commands/serve-9p.js';
import { smbConfCommand } from './commands/smb-conf.js';
import { statusCommand } from './commands/status.js';
import { tableCommand } from './commands/table.js';
import type { CommandFactory } from './context.js';

export const commands: CommandFactory[] = [
  mountCommand,
  smbConfCommand,
  tableCommand,
  idCommand,
  serve9pCommand,
  statusCommand,
];
