import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { machineBusySeconds, openFilesLimit, sleep } from './proc.js';

/** What the benchmarks ran on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  redis: string;
  openFiles: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return {
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    redis: /v=(\S+)/.exec(redis.stdout ?? '')?.[1] ?? 'not found',
    openFiles: openFilesLimit(),
    date: new Date().toISOString(),
  };
}

/** CPU the whole machine is using, in cores, averaged over `ms`. */
export async function machineLoad(ms = 1000): Promise<number> {
  const a = machineBusySeconds();
  await sleep(ms);
  return (machineBusySeconds() - a) / (ms / 1000);
}
