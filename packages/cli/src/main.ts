import { CodedError } from '@tributary/protocol';
import { UsageError } from './args.js';
import { deploy, deployHelp } from './deploy.js';
import { history, historyHelp } from './history.js';
import { imageUrl, imageUrlHelp } from './image-url.js';
import { init, initHelp } from './init.js';
import { logs, logsHelp } from './logs.js';
import { pub, pubHelp } from './pub.js';
import { replay, replayHelp } from './replay.js';
import { start, startHelp } from './start.js';
import { sub, subHelp } from './sub.js';
import { token, tokenHelp } from './token.js';
import { trace, traceHelp } from './trace.js';

type Command = { run: (argv: string[]) => Promise<number>; help: string };

const commands: Record<string, Command> = {
  start: { run: start, help: startHelp },
  pub: { run: pub, help: pubHelp },
  sub: { run: sub, help: subHelp },
  history: { run: history, help: historyHelp },
  token: { run: token, help: tokenHelp },
  'image-url': { run: imageUrl, help: imageUrlHelp },
  deploy: { run: deploy, help: deployHelp },
  logs: { run: logs, help: logsHelp },
  trace: { run: trace, help: traceHelp },
  replay: { run: replay, help: replayHelp },
  init: { run: init, help: initHelp },
};

const usage = `tributary <command> [options]

Commands:
  start     run a broker (embedded engine, or --redis URL / --redis-cluster SEEDS)
  pub       publish a message and print its offset
  sub       print messages from channels or patterns, one JSON line each
  history   print stored messages of a channel
  token     sign a token with grants
  image-url sign an on-the-fly image URL (resize, format …) for a stored object
  deploy    bundle a block and hot-deploy it to a running broker
  logs      tail a block's logs
  trace     walk a message's lineage back to the original message
  replay    try a block version on a channel's history, beside what the deployed one published
  init      scaffold a block: init block <name>

Client commands take --url (env TRIBUTARY_URL, default http://127.0.0.1:7700; http(s):// or
ws(s):// alike) and --token (env TRIBUTARY_TOKEN). 'tributary <command> --help' shows a command's options.`;

/** Runs the CLI; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`unknown command ${JSON.stringify(name)}\n\n${usage}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${command.help}\n`);
      return 2;
    }
    // TributaryError (protocol codes) and the other coded errors a broker route answers with.
    if (err instanceof CodedError) {
      process.stderr.write(`error ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
