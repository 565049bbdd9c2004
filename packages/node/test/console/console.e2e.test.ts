import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileSource } from '@tributary/runtime';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, type TestBrowser } from '@tributary/testkit/chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { FIXED_BLOCK } from './fixtures.js';
import { call, SECRET, startConsoleNode, type ConsoleNode } from './helpers.js';

const ARTIFACTS = fileURLToPath(new URL('../../../../test-artifacts/', import.meta.url));

// The operator's path through the console in a real headless browser against a real node: log in,
// see a channel appear, watch a stream, deploy a fixed block version, replay its dead letter.
describe('console in Chromium', () => {
  let n: ConsoleNode;
  let browser: TestBrowser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    n = await startConsoleNode();
    browser = await launchChromium({ viewport: { width: 1280, height: 1400 } });
    context = browser.context;
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await n?.close();
  });

  it('logs in, shows channels and streams, deploys a block and replays a dead letter', async () => {
    // A message the failing `flaky` block dead-letters before the operator arrives.
    await call(n.url, 'POST', '/v1/channels/orders.o-17/messages', { token: SECRET, body: { data: { sku: 'A-1', qty: 2 } } });
    await eventually(
      async () => {
        const r = await call(n.url, 'GET', '/v1/admin/blocks/flaky/dlq', { token: SECRET });
        return r.body.entries?.length === 1 ? true : undefined;
      },
      { message: 'the dead letter', timeoutMs: 15_000 },
    );

    await page.goto(`${n.url}/console`);
    await page.locator('#login').waitFor();
    await page.fill('#secret', 'not-the-secret-not-the-secret-not-the-secret');
    await page.click('#login button[type=submit]');
    await page
      .locator('#login-error', { hasText: 'UNAUTHORIZED' })
      .or(page.locator('#login-error', { hasText: 'invalid' }))
      .first()
      .waitFor();
    await page.fill('#secret', SECRET);
    await page.click('#login button[type=submit]');
    await page.locator('#overview', { hasText: 'engine memory' }).waitFor();
    // The failing version logs nothing: the logs box says so instead of staying blank.
    await page.locator('#log-lines li.empty', { hasText: 'no log lines' }).waitFor();

    // A message published through the broker (not the console) shows up as a channel row.
    await call(n.url, 'POST', '/v1/channels/sensors.e2e/messages', { token: SECRET, body: { data: { celsius: 21 } } });
    await rowCell(page, 'channels', 'sensors.e2e', 4, '1').waitFor();

    // Watch a pattern, publish from the console's box, see it arrive on the stream.
    await page.fill('#watch-channel', 'chat.*');
    await page.click('#watch button[type=submit]');
    await page.locator('#watch-status', { hasText: 'watching chat.*' }).waitFor();
    await page.fill('#publish-channel', 'chat.e2e');
    await page.fill('#publish-data', '{"text":"hello from the console"}');
    await page.click('#publish button[type=submit]');
    await page.locator('#publish-result', { hasText: 'stored on chat.e2e at offset 1' }).waitFor();
    await page.locator('#stream li', { hasText: 'hello from the console' }).waitFor();
    await page.locator('#channels tbody tr[data-key="chat.e2e"]').waitFor();
    // The console's own `chat.*` watch is a live subscriber of chat.e2e, counted on its row.
    await rowCell(page, 'channels', 'chat.e2e', 3, '1').waitFor();

    // The dead letter is listed, and replaying it with the broken version keeps it there.
    const dead = page.locator('#dlq tbody tr', { hasText: 'orders.o-17' });
    await dead.waitFor();
    await dead.locator('button[name=replay]').click();
    await page.locator('#dlq-result', { hasText: 'HANDLER_ERROR' }).waitFor();
    expect(await dead.count()).toBe(1);

    // Deploy the fixed version: it shows in the blocks list with its version.
    const { version } = await compileSource(FIXED_BLOCK);
    await page.fill('#deploy-source', FIXED_BLOCK);
    await page.click('#deploy button[type=submit]');
    await page.locator('#deploy-result', { hasText: `deployed flaky@${version}` }).waitFor();
    await rowCell(page, 'blocks', 'flaky', 2, version).waitFor();

    // Replay now succeeds: the entry leaves the list and the block's log line shows up.
    await dead.locator('button[name=replay]').click();
    await page.locator('#dlq-result', { hasText: 'replayed flaky' }).waitFor();
    await dead.waitFor({ state: 'detached' });
    await page.locator('#log-lines li', { hasText: 'handled' }).waitFor();
    expect(await page.locator('#log-lines li.empty').count()).toBe(0);
    const done = await call(n.url, 'GET', '/v1/channels/orders-done.o-17/messages', { token: SECRET });
    expect(done.body.messages).toHaveLength(1);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true });
    expect(pageErrors.filter((e) => !e.includes('401') && !e.includes('422'))).toEqual([]);
  }, 90_000);
});

/** The `col`-th cell (1-based) of the row keyed `key` in table `#table`, once it shows `text`. */
function rowCell(page: Page, table: string, key: string, col: number, text: string) {
  return page.locator(`#${table} tbody tr[data-key="${key}"] td:nth-child(${col})`, { hasText: text });
}
