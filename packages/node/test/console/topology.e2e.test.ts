import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryEngine } from '@tributary/engine';
import { eventually } from '@tributary/testkit';
import { launchChromium, type TestBrowser } from '@tributary/testkit/chromium';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../../src/node.js';
import { call, SECRET } from './helpers.js';

const ARTIFACTS = fileURLToPath(new URL('../../../../test-artifacts/', import.meta.url));
const BLOCKS = fileURLToPath(new URL('../../../../blocks/', import.meta.url));

// The console's topology view in a real headless browser against a real node running the
// first-party pipeline: sensors.* → sensor-average → averages.* → temperature-alert → alerts.temperature.
describe('console topology in Chromium', () => {
  let engine: MemoryEngine;
  let node: TributaryNode;
  let url: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    engine = new MemoryEngine();
    node = await startNode({ engine, auth: { secret: SECRET }, port: 0, host: '127.0.0.1' });
    await node.blocks.deployFolder(`${BLOCKS}sensor-average`);
    await node.blocks.deployFolder(`${BLOCKS}temperature-alert`);
    url = node.broker.url;
    browser = await launchChromium({ viewport: { width: 1280, height: 1400 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await node?.close();
    await engine?.close();
  });

  it('draws the live pipeline with rates, and shows a block and a channel on click', async () => {
    // Five devices each hot once (an alert per device), and one reading sensor-average skips and logs.
    for (let i = 0; i < 5; i++) await publish(url, `sensors.room${i}`, { celsius: 40 });
    await publish(url, 'sensors.room9', { celsius: 'hot' });
    await eventually(
      async () => (await call(url, 'GET', '/v1/channels/alerts.temperature/messages', { token: SECRET })).body.messages?.length >= 5,
      {
        timeoutMs: 15_000,
        message: 'five alerts',
      },
    );

    await page.goto(`${url}/console/`);
    await page.fill('#secret', SECRET);
    await page.click('#login button[type=submit]');

    // Every edge the messages took is drawn, and carries a rate above zero.
    const flowed = [
      'trigger:pattern:sensors.*->block:sensor-average',
      'writes:block:sensor-average->channel:averages.room0',
      'matches:channel:averages.room0->pattern:averages.*',
      'trigger:pattern:averages.*->block:temperature-alert',
      'writes:block:temperature-alert->channel:alerts.temperature',
    ];
    for (const id of flowed) {
      const label = page.locator(`#topology-graph g.edge[data-id="${id}"] text`);
      await label.waitFor();
      expect(await label.textContent(), id).toMatch(/^(<0\.01|0\.\d*[1-9]\d*|[1-9][\d.]*)\/s/);
    }
    // A declared grant nothing has written through shows as such.
    await page
      .locator('#topology-graph g.edge.grant[data-id="grant:block:sensor-average->pattern:averages.*"] text', { hasText: 'may publish' })
      .waitFor();

    // A block: its trigger, its numbers, its log line and (no) dead letters.
    await page.locator('#topology-graph g.node[data-id="block:sensor-average"]').click();
    const detail = page.locator('#topology-detail');
    await detail.locator('h3', { hasText: 'sensor-average' }).waitFor();
    await detail.locator('dd', { hasText: 'afterPublish sensors.*' }).waitFor();
    await detail.locator('dd', { hasText: /^6 \(0 failed\)/ }).waitFor();
    await detail.locator('#detail-logs li', { hasText: 'invalid reading skipped' }).waitFor();
    await detail.locator('#detail-dlq li', { hasText: 'none' }).waitFor();

    // A channel: its recent messages, newest first.
    await page.locator('#topology-graph g.node[data-id="channel:alerts.temperature"]').click();
    await detail.locator('h3', { hasText: 'alerts.temperature' }).waitFor();
    await expect.poll(async () => (await detail.locator('#detail-messages li').allTextContents()).length).toBe(5);
    const newest = detail.locator('#detail-messages li').first();
    expect(await newest.textContent()).toMatch(/^#5 .*"device":"room4"/);

    // Its trace: the alert, the average it came from, the reading that started it.
    await newest.locator('button[name=trace]').click();
    const steps = page.locator('#trace-steps li');
    await expect.poll(async () => steps.count()).toBe(3);
    const [alertVersion, averageVersion] = ['temperature-alert', 'sensor-average'].map(
      (name) => node.blocks.runner.list().find((b) => b.name === name)?.version,
    );
    expect(await steps.nth(0).textContent()).toContain(`alerts.temperature#5 `);
    expect(await steps.nth(0).textContent()).toContain(`made by temperature-alert@${alertVersion}`);
    expect(await steps.nth(1).textContent()).toContain('averages.room4#1 ');
    expect(await steps.nth(1).textContent()).toContain(`made by sensor-average@${averageVersion}`);
    expect(await steps.nth(2).textContent()).toMatch(/^sensors\.room4#1 .* · original · \{"celsius":40\}$/);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console-topology.png'), fullPage: true });
    // The console's first call, before the login, is refused (401): that is how it knows to ask.
    expect(pageErrors.filter((e) => !e.includes('401'))).toEqual([]);
  }, 60_000);

  it('tries a new block version on the last messages from the deploy box, and shows the diff', async () => {
    const running = node.blocks.runner.list().find((b) => b.name === 'sensor-average')?.version;
    await page.fill('#deploy-source', FAHRENHEIT_AVERAGE);
    await page.fill('#replay-from', 'sensors.room0');
    await page.fill('#replay-limit', '10');
    await page.click('#replay-try');
    await page
      .locator('#replay-summary', { hasText: 'messages in: 1 · it would publish: 1 · differing from the deployed version: 1' })
      .waitFor();
    const row = page.locator('#replay-result tr');
    expect(await row.count()).toBe(1);
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe('sensors.room0#1 {"celsius":40}');
    expect(cells[1]).toBe('averages.room0 {"device":"room0","fahrenheit":104}');
    expect(cells[2]).toMatch(/^averages\.room0#1 \{"device":"room0","celsius":40,/);
    expect(cells[3]).toBe('differs');
    // Nothing was deployed or published: the old version runs, averages.room0 holds its one message.
    expect(node.blocks.runner.list().find((b) => b.name === 'sensor-average')?.version).toBe(running);
    const history = await call(url, 'GET', '/v1/channels/averages.room0/messages', { token: SECRET });
    expect(history.body.messages).toHaveLength(1);
    await page.screenshot({ path: join(ARTIFACTS, 'console-replay.png'), fullPage: true });
    expect(pageErrors.filter((e) => !e.includes('401'))).toEqual([]);
  }, 30_000);
});

async function publish(url: string, channel: string, data: unknown): Promise<void> {
  const r = await call(url, 'POST', `/v1/channels/${channel}/messages`, { token: SECRET, body: { data } });
  expect(r.status).toBe(201);
}

/** A new version of sensor-average to try: Fahrenheit, no averaging. */
const FAHRENHEIT_AVERAGE = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'sensor-average',
  trigger: { afterPublish: 'sensors.*' },
  publishes: ['averages.*'],
  async handle(msg, ctx) {
    const celsius = (msg.data as { celsius?: unknown }).celsius;
    if (typeof celsius !== 'number') return;
    const device = msg.channel.split('.')[1] ?? '';
    await ctx.publish('averages.' + device, { device, fahrenheit: (celsius * 9) / 5 + 32 });
  },
});
`;
