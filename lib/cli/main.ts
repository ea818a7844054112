// runMain(argv, io) -> exit code. The only caller that turns this into a
// process exit is bin/; library code never calls process.exit.
import yargs from 'yargs';
import { commands } from './commands.js';
import type { Context } from './context.js';
import { type Io, processIo, UsageError } from './io.js';

export interface MainOptions {
  io?: Io;
  /** Defaults to the first SIGINT or SIGTERM this process receives. */
  stopSignal?: Promise<NodeJS.Signals>;
  /** Name shown in --help (stableid or stableid-mount). */
  scriptName?: string;
  /**
   * Serve one command as the whole program (bin/stableid-mount is `stableid
   * mount`): its arguments come first and --help shows no command name.
   */
  only?: string;
}

export async function runMain(argv: string[], opts: MainOptions = {}): Promise<number> {
  const io = opts.io ?? processIo;
  let stop: Promise<NodeJS.Signals> | undefined = opts.stopSignal;
  const ctx: Context = { io, exitCode: 0, waitForStop: () => (stop ??= firstSignal()) };
  let failed: { msg: string; err?: Error } | undefined;
  let cli = yargs(argv)
    .scriptName(opts.scriptName ?? 'stableid')
    .strict()
    .help()
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failed = { msg, err };
    })
    .showHelpOnFail(false);
  if (opts.only) {
    const mod = commands.map((make) => make(ctx)).find((m) => String(m.command).split(' ')[0] === opts.only);
    if (!mod) throw new Error(`no command ${opts.only}`);
    cli = cli.command({ ...mod, command: String(mod.command).replace(/^\S+/, '$0') });
  } else {
    cli = cli.demandCommand(1, 'Name a command; see --help.').recommendCommands();
    for (const make of commands) cli = cli.command(make(ctx));
  }
  const out: string[] = [];
  try {
    await cli.parseAsync(argv, {}, (_err, _parsed, output) => {
      if (output) out.push(output);
    });
  } catch (err) {
    failed ??= { msg: '', err: err as Error };
  }
  if (out.length) io.out(out.join('\n'));
  if (failed) return report(io, failed.err ?? new UsageError(`${failed.msg} (see --help)`));
  return ctx.exitCode;
}

function report(io: Io, err: Error): number {
  const code = err instanceof UsageError ? err.exitCode : (err as { exitCode?: number }).exitCode;
  if (typeof code === 'number') {
    io.err(`stableid: ${err.message}`);
    return code;
  }
  io.err(`stableid: internal error: ${err.stack ?? err.message}`);
  return 70; // EX_SOFTWARE
}

function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
