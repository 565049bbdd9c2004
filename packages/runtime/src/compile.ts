import { createHash } from 'node:crypto';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { build, stop, type BuildOptions, type Message, type Plugin } from 'esbuild';
import { BlockError, BlockErrorCodes } from './errors.js';

/** A bundled block, ready to load into an isolate. */
export interface CompiledBlock {
  /** One script (IIFE) that sets `__tributaryBlock`. */
  code: string;
  /** Content hash of `code`: the block's version. */
  version: string;
}

// createRequire rather than import.meta.resolve: the latter is missing under vitest's transform.
const BLOCK_PACKAGE = createRequire(import.meta.url).resolve('@tributary/block');

/**
 * Bundles a block's entry file (TypeScript or JavaScript) and its imports into one script with
 * esbuild. Blocks run in a bare V8 isolate, so the platform is 'neutral': an import of a Node
 * built-in ({@link builtinImportProblem}) or an unresolvable package is a compile error, reported as
 * `file:line:column: message`.
 */
export async function compileBlock(entry: string): Promise<CompiledBlock> {
  return bundle({
    entryPoints: [entry],
    // Blocks outside this workspace still resolve the author API to this copy.
    alias: { '@tributary/block': BLOCK_PACKAGE },
    plugins: [noNodeBuiltins],
  });
}

/** What a block uses instead of the Node built-ins people reach for first (docs/BLOCKS.md, "The modules (ctx)"). */
const CTX_INSTEAD: Readonly<Record<string, string>> = {
  fs: 'ctx.kv to keep data (and ctx.config for settings)',
  'fs/promises': 'ctx.kv to keep data (and ctx.config for settings)',
  http: 'ctx.fetch for HTTP(S) requests',
  https: 'ctx.fetch for HTTP(S) requests',
  http2: 'ctx.fetch for HTTP(S) requests',
  net: 'ctx.fetch for HTTP(S) requests',
  tls: 'ctx.fetch for HTTP(S) requests',
  dns: 'ctx.fetch for HTTP(S) requests',
  dgram: 'ctx.fetch for HTTP(S) requests',
  child_process: 'ctx.fetch to call another service over HTTP(S)',
  worker_threads: "more lanes (the block's concurrency) rather than threads",
  process: 'ctx.config and ctx.secrets for settings and credentials',
};
const CTX_ANY = 'the ctx modules: ctx.fetch (HTTP), ctx.kv (data), ctx.publish, ctx.log, ctx.secrets, ctx.config';

/**
 * The compile error for an import of a Node built-in, or undefined when `spec` is not one. Every
 * `node:` specifier is; a bare one (`fs`, `events`) only when nothing else answers to the name (see
 * {@link noNodeBuiltins}).
 */
export function builtinImportProblem(spec: string): string | undefined {
  if (!spec.startsWith('node:') && !isBuiltin(spec)) return undefined;
  const name = spec.replace(/^node:/, '');
  return `blocks cannot import Node built-ins (${spec}): a block runs in a bare V8 isolate; use ${CTX_INSTEAD[name] ?? CTX_ANY} instead`;
}

/** Marks the plugin's own look-up of a bare built-in name, so the hook does not answer itself. */
const PROBE = Symbol('builtin probe');

/**
 * Turns esbuild's "Could not resolve" for a Node built-in into {@link builtinImportProblem}'s
 * message. A bare name that a package in the block's node_modules provides (the `events` or
 * `buffer` polyfills on npm) still resolves to that package, as it would without this plugin.
 */
const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:][\w/:.-]*$/ }, async (args) => {
      if (args.pluginData === PROBE) return undefined;
      const problem = builtinImportProblem(args.path);
      if (problem === undefined) return undefined;
      if (!args.path.startsWith('node:')) {
        const found = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: PROBE,
        });
        if (found.errors.length === 0) {
          const { path, external, namespace, suffix, sideEffects, pluginData } = found;
          return { path, external, namespace, suffix, sideEffects, pluginData };
        }
      }
      return { errors: [{ text: problem }] };
    });
  },
};

/** esbuild settings every block bundle shares: one IIFE script for a bare V8 isolate. */
const BUNDLE_OPTIONS = {
  bundle: true,
  write: false,
  format: 'iife',
  globalName: '__tributaryBlock',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  logLevel: 'silent',
  legalComments: 'none',
  charset: 'utf8',
} as const satisfies BuildOptions;

/** How long one compile may take before esbuild's service is stopped and the compile fails. */
export const COMPILE_TIMEOUT_MS = 10_000;

/** Options of {@link compileSource}. */
export interface CompileOptions {
  /** @defaultValue {@link COMPILE_TIMEOUT_MS} */
  timeoutMs?: number;
}

/** esbuild's messages when its service process is gone (crashed, killed, or stopped by us). */
const SERVICE_GONE = /service (was stopped|is no longer running)/i;

/**
 * Compiles run one at a time: esbuild has one service process per host process, and the only way to
 * end a runaway compile is to stop that process, which must not fail someone else's compile.
 */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs esbuild with the shared settings; its errors become COMPILE_ERROR with file:line:col. A
 * compile that outlives `timeoutMs` stops esbuild's service (the next compile starts a new one).
 * A service that is found dead, or dies during the compile, is replaced and the compile tried once
 * more (esbuild cannot tell whether it died before or because of this source); a second death is a
 * COMPILE_ERROR, and the next compile again gets a new service.
 */
function bundle(options: BuildOptions, timeoutMs = COMPILE_TIMEOUT_MS): Promise<CompiledBlock> {
  const run = queue.then(async () => {
    try {
      return await bundleOnce(options, timeoutMs);
    } catch (err) {
      if (!(err instanceof BlockError) || !SERVICE_GONE.test(err.message)) throw err;
      return bundleOnce(options, timeoutMs);
    }
  });
  queue = run.catch(() => {});
  return run;
}

/** Largest bundle a compile returns (bytes of UTF-8): a TypeScript enum, say, compiles to ~6× its source. */
export const MAX_COMPILED_BYTES = 2 * 1024 * 1024;

/** esbuild builds started so far (tests use it to see that a refused source never reached esbuild). */
export const compilerRuns = { count: 0 };

async function bundleOnce(options: BuildOptions, timeoutMs: number): Promise<CompiledBlock> {
  compilerRuns.count++;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await Promise.race([
      build({ ...BUNDLE_OPTIONS, ...options, write: false }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          // The only way to end a compile: stop the service (the next build starts a new one).
          void stop();
          reject(new BlockError(BlockErrorCodes.COMPILE_ERROR, `compile timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof BlockError) throw err;
    const errors = (err as { errors?: Message[] }).errors ?? [];
    const text = errors.length > 0 ? errors.map(formatMessage).join('\n') : (err as Error).message;
    if (!timedOut && SERVICE_GONE.test(text)) {
      // Dead now: make the next build start a new service instead of failing on this one forever.
      await stop();
      throw new BlockError(
        BlockErrorCodes.COMPILE_ERROR,
        /was stopped/i.test(text) ? `the compiler crashed on this source (${text})` : `the compiler was not running (${text})`,
        { cause: err },
      );
    }
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, text, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const code = result.outputFiles?.[0]?.text ?? '';
  if (Buffer.byteLength(code) > MAX_COMPILED_BYTES) {
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, `the compiled bundle is over ${MAX_COMPILED_BYTES} bytes`);
  }
  return { code, version: versionOf(code) };
}

/** Largest source text {@link compileSource} takes. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

/**
 * Deepest bracket nesting (`(`, `[`, `{`, a template's `${`) {@link compileSource} takes, counted by
 * {@link scanSource} (brackets in strings, templates' text, comments and regular expressions do not
 * count). esbuild parses nesting by recursion: a source of half a million `(` crashed its service
 * process. Real code nests a few dozen levels.
 */
export const MAX_SOURCE_NESTING = 256;

/**
 * Deepest nesting {@link compileSource} takes counting, besides brackets, what nests without them:
 * runs of prefix operators (`!`, `~`, `+`, `-`, `++`, `--`, `typeof`, `void`, `delete`, `await`,
 * `new`, `yield`), right-associative chains (`=` and compound assignments, `? :`, `**`, `=>`),
 * statement heads (`if`, `else`, `for`, `while`, `do`, `with`) and type-argument `<`. A million `!`
 * in a row crashed esbuild's service twice. Real code chains a few dozen; a 300-branch else-if is 600.
 */
export const MAX_SOURCE_CHAIN = 1024;

/** Why {@link scanSource} refused a source, or undefined. */
export type ScanRefusal = 'nesting' | 'chain' | undefined;

const PREFIX_WORDS = new Set(['typeof', 'void', 'delete', 'await', 'new', 'yield']);
const STATEMENT_WORDS = new Set(['if', 'else', 'for', 'while', 'do', 'with']);
/** Words after which an expression starts (so `/` begins a regular expression). */
const EXPRESSION_BEFORE = new Set([
  'return',
  'typeof',
  'void',
  'delete',
  'new',
  'in',
  'of',
  'instanceof',
  'case',
  'do',
  'else',
  'throw',
  'yield',
  'await',
  'extends',
  'default',
]);
/** Words that are operands (so `/` after them divides), besides identifiers. */
const OPERAND_WORDS = new Set(['this', 'super', 'null', 'true', 'false']);
const CONTROL_WORDS = new Set(['if', 'while', 'for', 'with']);
const BINARY_WORDS = new Set(['in', 'instanceof', 'of', 'as', 'satisfies', 'extends']);
const KEYWORDS = new Set([
  ...PREFIX_WORDS,
  ...STATEMENT_WORDS,
  ...EXPRESSION_BEFORE,
  ...OPERAND_WORDS,
  'function',
  'class',
  'let',
  'const',
  'var',
  'import',
  'export',
  'try',
  'catch',
  'finally',
  'switch',
  'break',
  'continue',
  'debugger',
]);

interface Frame {
  /** 40 `(`, 91 `[`, 123 `{`, 36 a template's `${`. */
  open: number;
  /** A `(` after if/while/for/with: a statement follows its `)`, so `/` there starts a regular expression. */
  control: boolean;
  /** A `{` of an object literal or function/class expression: its `}` ends an expression. */
  expression: boolean;
  unary: number;
  right: number;
  statement: number;
  angle: number;
}

const isIdentStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 36 || c === 95 || c === 92 || c === 35 || c >= 128;
const isIdentPart = (c: number): boolean => isIdentStart(c) || (c >= 48 && c <= 57);
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isNewline = (c: number): boolean => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;

/**
 * Scans `source` as JavaScript/TypeScript tokens (strings with escapes, templates with nested `${}`,
 * comments, regular expressions where a `/` can start one) and refuses it as soon as its bracket
 * nesting passes `maxNesting` or brackets plus operator/statement chains pass `maxChain`. A lexer,
 * not a parser: where it misreads a `/` (a regular expression right after an expression-like `}`),
 * it may miscount; esbuild's own crash handling is then the backstop. Linear in the source.
 */
export function scanSource(source: string, maxNesting = MAX_SOURCE_NESTING, maxChain = MAX_SOURCE_CHAIN): ScanRefusal {
  const n = source.length;
  const newFrame = (open: number, control: boolean, expression: boolean): Frame => ({
    open,
    control,
    expression,
    unary: 0,
    right: 0,
    statement: 0,
    angle: 0,
  });
  const frames: Frame[] = [newFrame(0, false, false)];
  let top = frames[0] as Frame;
  /** Brackets plus every frame's chains. */
  let total = 0;
  /** Whether the last token ended an expression (then `/` divides, `!` `++` are postfix, `+` binary). */
  let exprEnd = false;
  /** The last token: a punctuator's text, a keyword, 'id' (identifier or literal), '' at the start. */
  let prev = '';
  /** A newline came after an expression: a word now starts a new statement (ASI). */
  let newlineAfterExpr = false;
  /** A `;` or a block's `}` came: the next token starts a statement unless it is `else`. */
  let statementEnded = false;
  /** Depth at which a function/class expression's body `{` is expected, or -1. */
  let functionBodyAt = -1;
  let afterDot = false;

  const add = (field: 'unary' | 'right' | 'statement' | 'angle', by: number): boolean => {
    const next = Math.max(0, top[field] + by);
    total += next - top[field];
    top[field] = next;
    return total > maxChain;
  };
  const resetChains = (statement: boolean): void => {
    total -= top.unary + top.right + top.angle + (statement ? top.statement : 0);
    top.unary = 0;
    top.right = 0;
    top.angle = 0;
    if (statement) top.statement = 0;
  };
  const push = (open: number, control: boolean, expression: boolean): ScanRefusal => {
    top = newFrame(open, control, expression);
    frames.push(top);
    total++;
    if (frames.length - 1 > maxNesting) return 'nesting';
    return total > maxChain ? 'chain' : undefined;
  };
  /** Reads a template's text from `from`: into its next `${` (nesting like a bracket) or past its end. */
  const templateText = (from: number): ScanRefusal => {
    const t = template(from);
    i = t.at;
    if (t.open) {
      exprEnd = false;
      prev = '${';
      return push(36, false, false);
    }
    exprEnd = true;
    prev = 'id';
    return undefined;
  };
  const pop = (): Frame => {
    const f = top;
    frames.pop();
    total -= 1 + f.unary + f.right + f.statement + f.angle;
    top = frames[frames.length - 1] as Frame;
    return f;
  };
  /** Called before each token: applies ASI and statement ends. `word` is the token if it is a word. */
  const startToken = (word: string | undefined, literal: boolean): void => {
    if (statementEnded) {
      statementEnded = false;
      if (word !== 'else') resetChains(true);
    } else if (newlineAfterExpr && (literal || (word !== undefined && !BINARY_WORDS.has(word)))) {
      resetChains(word !== 'else');
    }
    newlineAfterExpr = false;
  };
  /** Scans template text from i (after `` ` `` or a `${…}`'s `}`); returns the index after its end or its `${`. */
  const template = (i: number): { at: number; open: boolean } => {
    while (i < n) {
      const c = source.charCodeAt(i);
      if (c === 92) i += 2;
      else if (c === 96) return { at: i + 1, open: false };
      else if (c === 36 && source.charCodeAt(i + 1) === 123) return { at: i + 2, open: true };
      else i++;
    }
    return { at: n, open: false };
  };

  let i = 0;
  while (i < n) {
    const c = source.charCodeAt(i);
    // Whitespace and newlines.
    if (c === 32 || c === 9 || c === 11 || c === 12 || c === 0xfeff || c === 0xa0) {
      i++;
      continue;
    }
    if (isNewline(c)) {
      if (exprEnd) newlineAfterExpr = true;
      i++;
      continue;
    }
    const d = source.charCodeAt(i + 1);
    // Comments.
    if (c === 47 && d === 47) {
      i += 2;
      while (i < n && !isNewline(source.charCodeAt(i))) i++;
      continue;
    }
    if (c === 47 && d === 42) {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      if (exprEnd && /[\n\r\u2028\u2029]/.test(source.slice(i, stop))) newlineAfterExpr = true;
      i = stop;
      continue;
    }
    // Strings.
    if (c === 34 || c === 39) {
      startToken(undefined, true);
      i++;
      while (i < n) {
        const s = source.charCodeAt(i);
        if (s === 92) i += 2;
        else if (s === c) {
          i++;
          break;
        } else if (s === 10 || s === 13) break;
        else i++;
      }
      exprEnd = true;
      prev = 'id';
      afterDot = false;
      continue;
    }
    // Templates: their `${` nests like a bracket.
    if (c === 96) {
      startToken(undefined, true);
      const why = templateText(i + 1);
      if (why !== undefined) return why;
      afterDot = false;
      continue;
    }
    // Regular expressions: where an expression starts.
    if (c === 47 && !exprEnd) {
      startToken(undefined, true);
      i++;
      let inClass = false;
      while (i < n) {
        const s = source.charCodeAt(i);
        if (s === 92) i += 2;
        else if (isNewline(s)) break;
        else if (s === 91) {
          inClass = true;
          i++;
        } else if (s === 93) {
          inClass = false;
          i++;
        } else if (s === 47 && !inClass) {
          i++;
          break;
        } else i++;
      }
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
      exprEnd = true;
      prev = 'id';
      afterDot = false;
      continue;
    }
    // Numbers (including .5).
    if (isDigit(c) || (c === 46 && isDigit(d))) {
      startToken(undefined, true);
      i++;
      while (i < n) {
        const s = source.charCodeAt(i);
        if (isIdentPart(s) || s === 46) i++;
        else break;
      }
      exprEnd = true;
      prev = 'id';
      afterDot = false;
      continue;
    }
    // Words.
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n) {
        const s = source.charCodeAt(j);
        if (s === 92) j += 2;
        else if (isIdentPart(s)) j++;
        else break;
      }
      const word = source.slice(i, j);
      i = j;
      if (afterDot || !KEYWORDS.has(word)) {
        startToken(word, false);
        afterDot = false;
        exprEnd = true;
        prev = 'id';
        continue;
      }
      startToken(word, false);
      if (PREFIX_WORDS.has(word) && add('unary', 1)) return 'chain';
      if (STATEMENT_WORDS.has(word) && add('statement', 1)) return 'chain';
      if (
        (word === 'function' || word === 'class') &&
        !exprEnd &&
        prev !== '' &&
        prev !== ';' &&
        prev !== '{' &&
        prev !== '}' &&
        prev !== ')' &&
        prev !== 'export' &&
        prev !== 'default'
      ) {
        functionBodyAt = frames.length;
      }
      exprEnd = OPERAND_WORDS.has(word);
      prev = word;
      continue;
    }
    // Punctuators.
    afterDot = false;
    startToken(undefined, false);
    if (c === 40 || c === 91) {
      const why = push(c, c === 40 && CONTROL_WORDS.has(prev), false);
      if (why !== undefined) return why;
      exprEnd = false;
      prev = c === 40 ? '(' : '[';
      i++;
      continue;
    }
    if (c === 123) {
      let expression = functionBodyAt === frames.length;
      if (expression) functionBodyAt = -1;
      else if (
        !exprEnd &&
        prev !== '' &&
        prev !== ';' &&
        prev !== '{' &&
        prev !== '}' &&
        prev !== ')' &&
        prev !== '=>' &&
        prev !== 'id' &&
        prev !== 'else' &&
        prev !== 'do' &&
        !(KEYWORDS.has(prev) && !EXPRESSION_BEFORE.has(prev))
      ) {
        expression = true;
      }
      const why = push(123, false, expression);
      if (why !== undefined) return why;
      exprEnd = false;
      prev = '{';
      i++;
      continue;
    }
    if (c === 41 || c === 93 || c === 125) {
      i++;
      const open = c === 41 ? 40 : c === 93 ? 91 : 123;
      if (c === 125 && top.open === 36) {
        // The end of a template's `${…}`: back to its text.
        pop();
        const why = templateText(i);
        if (why !== undefined) return why;
        continue;
      }
      // An unmatched closer is a syntax error esbuild reports; it closes nothing here.
      if (top.open !== open) {
        exprEnd = c !== 41;
        prev = c === 41 ? ')' : c === 93 ? ']' : '}';
        continue;
      }
      const f = pop();
      if (c === 41) exprEnd = !f.control;
      else if (c === 93) exprEnd = true;
      else {
        exprEnd = f.expression;
        if (!f.expression) statementEnded = true;
      }
      prev = c === 41 ? ')' : c === 93 ? ']' : '}';
      continue;
    }
    if (c === 59) {
      resetChains(false);
      statementEnded = true;
      exprEnd = false;
      prev = ';';
      i++;
      continue;
    }
    if (c === 44) {
      total -= top.unary + top.right;
      top.unary = 0;
      top.right = 0;
      exprEnd = false;
      prev = ',';
      i++;
      continue;
    }
    // Longest operator at i.
    let op = source.slice(i, i + 4);
    while (op.length > 1 && !OPERATORS.has(op)) op = op.slice(0, -1);
    i += op.length;
    if (op === '.' || op === '?.') {
      afterDot = true;
      exprEnd = false;
      prev = '.';
      continue;
    }
    let chained = false;
    if (op === '!' || op === '++' || op === '--') {
      // After an expression: postfix (TypeScript's non-null `!`), still an expression.
      if (exprEnd) {
        prev = op;
        continue;
      }
      chained = add('unary', 1);
    } else if ((op === '+' || op === '-') && !exprEnd) {
      chained = add('unary', 1);
    } else if (op === '~' || op === '...' || op === '@') {
      if (op === '~') chained = add('unary', 1);
    } else if (op === '<') {
      chained = add('angle', 1);
    } else if (op === '>' || op === '>>' || op === '>>>') {
      add('angle', -op.length);
    } else if (op === '?' || op === '**' || op === '=>' || (op.endsWith('=') && !COMPARISONS.has(op))) {
      if (op === '=>') functionBodyAt = -1;
      chained = add('right', 1);
    } else if (op !== ':') {
      // A binary operator ends the prefix run before it.
      total -= top.unary;
      top.unary = 0;
    }
    if (chained) return 'chain';
    exprEnd = false;
    prev = op;
  }
  return undefined;
}

const COMPARISONS = new Set(['==', '===', '!=', '!==', '<=', '>=']);
const OPERATORS = new Set([
  '.',
  '...',
  '?.',
  '?',
  '??',
  '??=',
  ':',
  '=',
  '==',
  '===',
  '!',
  '!=',
  '!==',
  '=>',
  '+',
  '++',
  '+=',
  '-',
  '--',
  '-=',
  '*',
  '**',
  '*=',
  '**=',
  '/',
  '/=',
  '%',
  '%=',
  '<',
  '<<',
  '<=',
  '<<=',
  '>',
  '>>',
  '>>>',
  '>=',
  '>>=',
  '>>>=',
  '&',
  '&&',
  '&=',
  '&&=',
  '|',
  '||',
  '|=',
  '||=',
  '^',
  '^=',
  '~',
  '@',
  '#',
]);

/**
 * Bundles one block given as source text (what the console's deploy box posts). The text may import
 * `@tributary/block` and nothing else: it arrives over HTTP, and letting it import relative paths
 * would let whoever holds the admin secret bundle files of the broker's machine into a block.
 * Errors are COMPILE_ERROR with `block.ts:line:column: message`; so are a source over
 * {@link MAX_SOURCE_BYTES}, nested deeper than {@link MAX_SOURCE_NESTING} or chained deeper than
 * {@link MAX_SOURCE_CHAIN} (both refused before esbuild runs), a bundle over
 * {@link MAX_COMPILED_BYTES}, and a compile over its timeout.
 */
export async function compileSource(source: string, loader: 'ts' | 'js' = 'ts', options: CompileOptions = {}): Promise<CompiledBlock> {
  // Bounded before esbuild sees it (see MAX_SOURCE_NESTING).
  if (Buffer.byteLength(source) > MAX_SOURCE_BYTES) {
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, `source is over ${MAX_SOURCE_BYTES} bytes`);
  }
  const refusal = scanSource(source);
  if (refusal === 'nesting') {
    throw new BlockError(
      BlockErrorCodes.COMPILE_ERROR,
      `source has brackets nested deeper than ${MAX_SOURCE_NESTING} (refused by the nesting scan, before compiling)`,
    );
  }
  if (refusal === 'chain') {
    throw new BlockError(
      BlockErrorCodes.COMPILE_ERROR,
      `source has brackets, operators or statements chained deeper than ${
        MAX_SOURCE_CHAIN
      } (refused by the nesting scan, before compiling)`,
    );
  }
  const blockDir = dirname(BLOCK_PACKAGE);
  // esbuild names the stdin module resolveDir/sourcefile: that importer gets only the author API.
  const sourcefile = `block.${loader}`;
  const stdinPath = join(blockDir, sourcefile);
  return bundle(
    {
      stdin: { contents: source, loader, sourcefile, resolveDir: blockDir },
      plugins: [
        {
          name: 'only-block-api',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.path === '@tributary/block') return { path: BLOCK_PACKAGE };
              // The author API's own relative imports, if it ever has some.
              if (args.importer !== stdinPath && args.importer.startsWith(blockDir)) return undefined;
              const text =
                builtinImportProblem(args.path) ?? `a block deployed as source may import only @tributary/block, not ${args.path}`;
              return { errors: [{ text }] };
            });
          },
        },
      ],
    },
    options.timeoutMs,
  );
}

/** The version of a bundle: the first 12 hex digits of its SHA-256. */
export function versionOf(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 12);
}

function formatMessage(m: Message): string {
  const loc = m.location;
  return loc === null ? m.text : `${loc.file}:${loc.line}:${loc.column + 1}: ${m.text}`;
}
