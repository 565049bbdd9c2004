/**
 * Where Tributary's nodes spend their CPU in each traffic shape: runs every shape (or
 * `--shapes=…`) for Tributary on Redis only, its two nodes under `node --cpu-prof`, and reduces the
 * profiles to self time per function and per package over the measured load (saturation and the
 * fixed load; module loading and connection setup excluded). Issue 21 asks for these top frames
 * beside the shapes' numbers, to say where the time goes.
 *
 * Run alone: node --import tsx scripts/bench/profile-shapes.ts [--shapes=devices,wildcard] [--write]
 * (`--write` replaces the "Traffic shapes: where the time goes" section of BENCHMARKS.md; only a
 * run of every shape does.) About 3 minutes. The profiler's own sampling costs the nodes a few per
 * cent, so throughput here is lower than in shapes.ts: read the shares, not the rates.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type CpuProfile, type ProfileSummary, summarize } from './lib/cpuprofile.js';
import { machineInfo } from './lib/machine.js';
import { replaceSection } from './lib/section.js';
import { runShapes, SHAPES, type ShapeId } from './shapes.js';

export const PROFILE_SECTION_BEGIN = '<!-- shapes-profile:begin -->';
export const PROFILE_SECTION_END = '<!-- shapes-profile:end -->';

interface ShapeProfile {
  id: ShapeId;
  title: string;
  messagesPerSec: number;
  summary: ProfileSummary;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

async function profileShape(id: ShapeId): Promise<ShapeProfile> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-prof-'));
  // spawnServer passes BENCH_NODE_ARGS to each node; BENCH_ONLY picks the system.
  process.env.BENCH_ONLY = 'tributary-redis';
  process.env.BENCH_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${dir}`;
  let fromUs = Number.POSITIVE_INFINITY;
  try {
    const r = await runShapes({
      shapes: [id],
      log: (line) => {
        // The load starts right after the nodes are connected and verified.
        if (line.includes('connected and verified')) fromUs = nowUs();
        console.log(line);
      },
    });
    const profiles = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
    if (profiles.length === 0) throw new Error(`${id}: the nodes wrote no profile`);
    const shape = r.shapes[0];
    const sat = shape?.systems[0]?.saturation;
    return {
      id,
      title: shape?.title ?? id,
      messagesPerSec: sat?.messagesPerSec ?? Number.NaN,
      summary: summarize(profiles, fromUs, 10),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

export function renderProfileSection(results: ShapeProfile[], machine = machineInfo()): string {
  const L = [PROFILE_SECTION_BEGIN, '## Traffic shapes: where the time goes (CPU profiles)', ''];
  L.push(
    `Measured ${machine.date} by scripts/bench/profile-shapes.ts (\`node --import tsx scripts/bench/profile-shapes.ts --write\`) on ` +
      `${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}: each shape of the section above, Tributary on Redis only (two nodes), ` +
      'both nodes under `node --cpu-prof`. Self time of each function, and by where its code lives, over both nodes from the start of the ' +
      'load to the end (saturation and fixed load; startup and connecting excluded), as a share of their busy time. "V8 and native code" ' +
      'is time in the engine and Node’s C++ outside a JavaScript frame ((program), builtins, the parser); system calls that write to sockets ' +
      'are counted apart. The profiler costs the nodes a few per cent, so the rates here are below the section above.',
    '',
  );
  for (const r of results) {
    L.push(`### ${r.title}`, '');
    L.push(
      `${Math.round(r.summary.busyMs).toLocaleString('en-US')} ms of node CPU sampled; ${Math.round(r.messagesPerSec).toLocaleString('en-US')} msgs/s at saturation under the profiler.`,
      '',
    );
    L.push('| where | share | | function (self time) | share |', '|---|---|---|---|---|');
    const n = Math.max(r.summary.groups.length, r.summary.frames.length);
    for (let i = 0; i < n; i++) {
      const g = r.summary.groups[i];
      const f = r.summary.frames[i];
      L.push(
        `| ${g?.name ?? ''} | ${g === undefined ? '' : pct(g.share)} | | ${f === undefined ? '' : `\`${f.name.replace(/\|/g, '\\|')}\``} | ${f === undefined ? '' : pct(f.share)} |`,
      );
    }
    L.push('');
  }
  const writes = results.map((r) => r.summary.groups.find((g) => g.name === 'socket writes (system calls)')?.share ?? 0);
  const gc = results.map((r) => r.summary.groups.find((g) => g.name === 'garbage collection')?.share ?? 0);
  // JavaScript frames are labelled with their file: `name (file)`.
  const js = results.flatMap((r) => r.summary.frames.filter((f) => f.name.includes(' (')).map((f) => f.share));
  const range = (xs: number[]): string => `${pct(Math.min(...xs))}–${pct(Math.max(...xs))}`;
  if (results.length > 0)
    L.push(
      `**Reading them.** System calls that write frames to sockets take ${range(writes)} of the nodes' time: most of it where one ` +
        'message goes to many sockets (each socket is a system call per turn, however small the frame), a quarter or so where each ' +
        `message has one subscriber. Garbage collection on the main thread takes ${range(gc)}; no single JavaScript function takes more ` +
        `than ${pct(Math.max(0, ...js))}. So what would pay is fewer system calls per delivery (frames to one socket leaving together, which the ` +
        'corker does within a turn) and fewer allocations per message, not one hot function.',
      '',
    );
  L.push(PROFILE_SECTION_END);
  return L.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = process.argv
    .find((a) => a.startsWith('--shapes='))
    ?.slice('--shapes='.length)
    .split(',');
  const results: ShapeProfile[] = [];
  for (const shape of SHAPES) if (only === undefined || only.includes(shape.id)) results.push(await profileShape(shape.id));
  const section = renderProfileSection(results);
  console.log(`\n${section}`);
  if (process.argv.includes('--write') && only === undefined) {
    replaceSection(PROFILE_SECTION_BEGIN, PROFILE_SECTION_END, section);
    console.log('wrote the CPU-profile section of BENCHMARKS.md');
  }
  process.exit(0);
}
