import { MemoryEngine } from '@tributary/engine';
import { eventually } from '@tributary/testkit';
import { launchChromium, type TestBrowser } from '@tributary/testkit/chromium';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../../src/node.js';
import { call, SECRET } from './helpers.js';

// The console's topology and trace views in Chromium against hostile data: message data, log lines
// and a block's error carrying markup are shown as text and never run; a trace whose parent is gone
// (its channel reset) says so, as `tributary trace` does, instead of ending without a word.

const MARKUP = '<img src=x onerror="window.__xss=1"><svg onload="window.__xss=2"></svg>';

/** Relays sensors.* to out.<device> with markup in its data, logs markup, and fails on `boom` with markup. */
const HOSTILE = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'hostile',
  trigger: { afterPublish: 'sensors.*' },
  publishes: ['out.*'],
  async handle(msg, ctx) {
    const device = msg.channel.split('.')[1] ?? '';
    if (device === 'boom') throw new Error(${JSON.stringify(MARKUP)});
    ctx.log.info(${JSON.stringify(MARKUP)});
    await ctx.publish('out.' + device, { html: ${JSON.stringify(MARKUP)}, from: msg.data });
  },
});
`;

describe('console against hostile data in Chromium', () => {
  let engine: MemoryEngine;
  let node: TributaryNode;
  let url: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    engine = new MemoryEngine();
    node = await startNode({ engine, auth: { secret: SECRET }, port: 0, host: '127.0.0.1' });
    expect((await call(node.broker.url, 'POST', '/v1/admin/blocks', { token: SECRET, body: { source: HOSTILE } })).status).toBe(201);
    url = node.broker.url;
    browser = await launchChromium({ viewport: { width: 1280, height: 1400 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  afterAll(async () => {
    await browser?.close();
    await node?.close();
    await engine?.close();
  });

  it('shows markup in data, logs, errors and traces as text, and says where a trace lost its parent', async () => {
    for (const [channel, data] of [
      ['sensors.a', { html: MARKUP }],
      ['sensors.b', { celsius: 1 }],
      ['sensors.boom', { celsius: 2 }],
    ] as const) {
      expect((await call(url, 'POST', `/v1/channels/${channel}/messages`, { token: SECRET, body: { data } })).status).toBe(201);
    }
    await eventually(async () => (await engine.state('out.b')).last === 1 && (await engine.state('out.a')).last === 1, {
      timeoutMs: 15_000,
      message: 'the block relayed both readings',
    });
    await eventually(async () => node.blocks.runner.list()[0]?.stats.lastError !== undefined, { message: 'the block failed on boom' });
    // out.b's parent is gone: its channel's history was reset.
    await engine.reset('sensors.b');

    await page.goto(`${url}/console/`);
    await page.fill('#secret', SECRET);
    await page.click('#login button[type=submit]');
    const detail = page.locator('#topology-detail');

    // The block: its log line and its last error, as text.
    await page.locator('#topology-graph g.node[data-id="block:hostile"]').click();
    await detail.locator('#detail-logs li', { hasText: MARKUP }).first().waitFor();
    await detail.locator('dd', { hasText: `HANDLER_ERROR: ${MARKUP}` }).waitFor();

    // A channel's messages and the trace of one, with markup in every step's data, as text.
    await page.locator('#topology-graph g.node[data-id="channel:out.a"]').click();
    await detail.locator('#detail-messages li', { hasText: '<img src=x' }).waitFor();
    await detail.locator('#detail-messages li button[name=trace]').first().click();
    const steps = page.locator('#trace-steps li');
    await expect.poll(async () => steps.count()).toBe(2);
    expect(await steps.nth(1).textContent()).toContain(`original · {"html":${JSON.stringify(MARKUP)}}`);

    // The trace of out.b ends at a parent no longer retained, and the console says so.
    await page.locator('#topology-graph g.node[data-id="channel:out.b"]').click();
    await detail.locator('h3', { hasText: 'out.b' }).waitFor();
    await detail.locator('#detail-messages li button[name=trace]').first().click();
    await page.locator('#trace-title', { hasText: 'out.b#1' }).waitFor();
    await page.locator('#trace-steps li', { hasText: 'sensors.b#1 is no longer retained' }).waitFor();

    // Nothing was ever parsed as markup, and nothing ran.
    for (const box of ['#topology', '#trace', '#topology-detail'])
      expect(await page.locator(`${box} img, ${box} foreignObject`).count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(pageErrors.filter((e) => !e.includes('401'))).toEqual([]);
  }, 60_000);

  it('keeps every node in its place while only the numbers change, instead of a new layout every refresh', async () => {
    // The graph module as the page runs it, given five refreshes of one pipeline whose rates change.
    // Laid out anew each time, a label one character shorter (0.1/s → 12/s) moved every node
    // downstream of it, and a large graph took seconds of the page's thread per refresh. A label that
    // grows past its box (errors appear) may move things once; the same widths again do not.
    const places = (await page.evaluate(REFRESHES)) as string[][];
    const [first, busier, calmAgain, failing, stillFailing] = places;
    expect(first).toHaveLength(6);
    expect(busier).toEqual(first);
    expect(calmAgain).toEqual(first);
    expect(stillFailing).toEqual(failing);
  });
});

/** Draws one pipeline five times with graph.js, its rates changing; the node places after each. */
const REFRESHES = `(async () => {
  const { renderGraph } = await import('/console/graph.js');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  document.body.append(svg);
  const topology = (rate, errors) => {
    const block = (name, from) => ({ id: 'block:' + name, kind: 'block', name, version: 'v',
      trigger: { kind: 'afterPublish', patterns: [from] }, publishes: [], messagesPerSecond: rate, errorsPerSecond: errors });
    const edge = (kind, from, to) => ({ id: kind + ':' + from + '->' + to, from, to, kind, messagesPerSecond: rate, errorsPerSecond: errors });
    return { time: 0, windowMs: 10000,
      nodes: [
        { id: 'pattern:sensors.*', kind: 'pattern', name: 'sensors.*' }, block('avg', 'sensors.*'),
        { id: 'channel:averages.d1', kind: 'channel', name: 'averages.d1' }, { id: 'pattern:averages.*', kind: 'pattern', name: 'averages.*' },
        block('alert', 'averages.*'), { id: 'channel:alerts.t', kind: 'channel', name: 'alerts.t' },
      ],
      edges: [
        edge('trigger', 'pattern:sensors.*', 'block:avg'), edge('writes', 'block:avg', 'channel:averages.d1'),
        edge('matches', 'channel:averages.d1', 'pattern:averages.*'), edge('trigger', 'pattern:averages.*', 'block:alert'),
        edge('writes', 'block:alert', 'channel:alerts.t'),
      ] };
  };
  const places = () => Array.from(svg.querySelectorAll('g.node')).map((g) => g.dataset.id + ' ' + g.getAttribute('transform'));
  const options = { selected: undefined, onSelect: () => {} };
  const out = [];
  for (const [rate, errors] of [[0.1, 0], [12, 0], [0.1, 0], [0.3, 0.1], [0.2, 0.2]]) {
    await renderGraph(svg, topology(rate, errors), options);
    out.push(places());
  }
  svg.remove();
  return out;
})()`;
