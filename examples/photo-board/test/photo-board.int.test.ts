import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startS3 } from '@tributary/testkit';
import { launchChromium, type TestBrowser } from '@tributary/testkit/chromium';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPhotoBoard, type PhotoBoard } from '../src/board.js';

// The page in a real browser (Debian's chromium, headless, driven by playwright-core) against the
// example's real node: broker, images capability, image-transform block in the sandbox. The only way
// the page learns about the sizes is the images.results message over its WebSocket.

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const SECRET = 'photo-board-test-secret-0123456789abcdef';

let context: BrowserContext;
let browser: TestBrowser;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  browser = await launchChromium();
  context = browser.context;
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function board(secret?: string): Promise<PhotoBoard> {
  const b = await startPhotoBoard({ port: 0, logger: pino({ level: 'silent' }), ...(secret === undefined ? {} : { secret }) });
  cleanups.push(() => b.close());
  return b;
}

/** A new tab on `url`; after the test, fails on any script error or console error not matching `expected`. */
async function openPage(url: string, expected?: RegExp): Promise<Page> {
  const page = await context.newPage();
  cleanups.push(() => page.close());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => void (m.type() === 'error' && !(expected?.test(m.text()) ?? false) && problems.push(`console: ${m.text()}`)));
  cleanups.push(async () => expect(problems).toEqual([]));
  await page.goto(url);
  return page;
}

/** A 1600×1200 JPEG with something to look at (and enough detail that it is not trivially small). */
async function photo(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="1200">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1e3a8a"/><stop offset="1" stop-color="#f59e0b"/></linearGradient></defs>
    <rect width="1600" height="1200" fill="url(#sky)"/>
    <circle cx="1100" cy="520" r="170" fill="#fde68a"/>
    <path d="M0 900 L350 560 L650 860 L950 500 L1350 880 L1600 700 L1600 1200 L0 1200 Z" fill="#14532d"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

// The waitForFunction callback runs in the page. The repo's tsconfig has no DOM lib (this is Node
// code), so the few DOM shapes the callback touches are declared here, for this module only.
interface DomImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
}
interface DomCard {
  dataset: Record<string, string | undefined>;
  querySelector(sel: string): { textContent: string | null } | null;
  querySelectorAll(sel: 'img'): Iterable<DomImage>;
}
declare const document: { querySelector(sel: string): DomCard | null };

interface ShownImage {
  name: string;
  naturalWidth: number;
  naturalHeight: number;
  width: number;
  height: number;
  src: string;
}

/** Picks the file and waits until the card's sizes are shown and every one of them has loaded. */
async function uploadAndWait(page: Page): Promise<{ key: string; images: ShownImage[] }> {
  await page.waitForSelector('body[data-state="ready"]');
  await page.setInputFiles('#file', { name: 'sunset.jpg', mimeType: 'image/jpeg', buffer: await photo() });
  const done = await page.waitForFunction(
    () => {
      const li = document.querySelector('.photo[data-state="done"], .photo[data-state="failed"]');
      if (li === null) return false;
      const imgs = [...li.querySelectorAll('img')];
      if (li.dataset.state === 'done' && (imgs.length === 0 || !imgs.every((i) => i.complete && i.naturalWidth > 0))) return false;
      return {
        state: li.dataset.state,
        text: li.querySelector('.state')?.textContent ?? '',
        key: li.dataset.key ?? '',
        images: imgs.map((i) => ({
          name: i.dataset.name ?? '',
          naturalWidth: i.naturalWidth,
          naturalHeight: i.naturalHeight,
          width: Number(i.dataset.width),
          height: Number(i.dataset.height),
          src: i.getAttribute('src') ?? '',
        })),
      };
    },
    undefined,
    { timeout: 30_000 },
  );
  const shown = (await done.jsonValue()) as { state: string; text: string; key: string; images: ShownImage[] };
  expect(shown.text).not.toMatch(/^failed/);
  expect(shown.state).toBe('done');
  return shown;
}

describe('photo-board in headless Chromium', () => {
  it('insecure mode: pick a JPEG, the thumbnails arrive over the WebSocket and load', async () => {
    const b = await board();
    const page = await openPage(b.url);
    const { key, images } = await uploadAndWait(page);

    expect(key).toMatch(/^uploads\//);
    expect(images.map((i) => [i.name, i.naturalWidth, i.naturalHeight])).toEqual([
      ['thumb', 320, 320],
      ['large', 1280, 960],
    ]);
    // What the page was told matches what the browser decoded, and the URLs are the derived blobs.
    for (const i of images) {
      expect([i.naturalWidth, i.naturalHeight]).toEqual([i.width, i.height]);
      expect(i.src).toMatch(new RegExp(`^/v1/blobs/derived/[A-Za-z0-9_-]{16}/${key}\\.(jpg|jpeg|webp)$`));
    }
    expect(await b.node.images!.store.head(key)).toMatchObject({ contentType: 'image/jpeg' });

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'photo-board.png'), fullPage: true });
  });

  it('blobs on S3 (startPhotoBoard({ s3 }), TRIBUTARY_BLOBS in main.ts): the same flow, with the upload and its sizes in the bucket', async () => {
    const s3 = await startS3();
    cleanups.push(() => s3.stop());
    const b = await startPhotoBoard({
      port: 0,
      logger: pino({ level: 'silent' }),
      s3: {
        bucket: s3.bucket,
        prefix: 'board',
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    });
    cleanups.push(() => b.close());
    const page = await openPage(b.url);
    const { key, images } = await uploadAndWait(page);
    expect(images.map((i) => [i.name, i.naturalWidth, i.naturalHeight])).toEqual([
      ['thumb', 320, 320],
      ['large', 1280, 960],
    ]);
    // The original and both sizes were written to the bucket, under the prefix.
    const puts = s3.requests.filter((r) => r.method === 'PUT').map((r) => new URL(r.path, 'http://x').pathname);
    expect(puts).toContain(`/${s3.bucket}/board/${key}`);
    for (const i of images) expect(puts).toContain(`/${s3.bucket}/board${i.src.slice('/v1/blobs'.length)}`);
  });

  it('token auth: refused without a token; with a #token= carrying the page grants it works', async () => {
    const b = await board(SECRET);

    // The refused WebSocket handshake and the refused upload request are logged by the browser.
    const anonymous = await openPage(b.url, /status of 40[13]|WebSocket/);
    await anonymous.waitForSelector('body[data-state="refused"]');
    expect(await anonymous.locator('#file').isDisabled()).toBe(true);
    // Uploads are refused too (no credentials for POST /v1/uploads: 401).
    expect(await anonymous.evaluate(async () => (await fetch('/v1/uploads', { method: 'POST', body: '{}' })).status)).toBe(401);

    const token = await b.pageToken();
    const page = await openPage(`${b.url}#token=${token}`);
    await page.waitForSelector('body[data-state="ready"]');
    // The page took the token out of the address bar.
    expect(page.url()).toBe(b.url);
    const { images } = await uploadAndWait(page);
    expect(images.map((i) => [i.name, i.naturalWidth, i.naturalHeight])).toEqual([
      ['thumb', 320, 320],
      ['large', 1280, 960],
    ]);
  });
});
