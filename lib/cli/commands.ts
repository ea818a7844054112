// Every CLI command, imported explicitly (yargs cannot load a command
// directory under ESM). Each module exports a yargs CommandModule factory
// taking the context (io, and a slot for the exit code).
import type { CommandFactory } from './context.js';
import { smbConfCommand } from './commands/smb-conf.js';

export const commands: CommandFactory[] = [smbConfCommand];
