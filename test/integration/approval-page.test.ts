import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/**
 * The approval page as an admin meets it: a real local run (`budgeteer local --serve`), the link from its summary
 * opened in headless Chromium at phone width, the form filled and submitted, then the link opened again.
 */
const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(__dirname, '..', '..', '.local', 'screenshots');

let run: ChildProcess | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  run?.kill('SIGTERM');
});

/** Starts a serving local run and resolves with its JSON summary, once printed. */
function serve(): Promise<{ approvals: { principal: string; url: string }[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'local', '--json', '--serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
    run = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      try {
        resolve(JSON.parse(out));
      } catch {
        // not the whole summary yet
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('exit', (code) => reject(new Error(`local run exited ${code}: ${err}`)));
  });
}

it('an admin opens the link on a phone, decides a raise, and a second visit sees it already decided', async () => {
  expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs the Debian package `chromium`
  const summary = await serve();
  const link = summary.approvals.find((a) => a.principal === 'role/summarizer-app')?.url;
  expect(link).toBeDefined();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const errors: string[] = [];
  page.on('console', (message) => {
    // A style or form the Content-Security-Policy blocks shows here (the 409 of the second visit is expected).
    if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) {
      errors.push(message.text());
    }
  });

  const opened = await page.goto(link as string);
  expect(opened?.status()).toBe(200);
  await expect(page.title()).resolves.toBe(`Suspended: role/summarizer-app (${new Date().toISOString().slice(0, 7)})`);
  // Readable on a phone: nothing wider than the screen.
  expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, 'approval-page-phone.png'), fullPage: true });

  await page.getByRole('radio', { name: /^Raise the limit/ }).check();
  await page.getByLabel('Amount to raise by, in USD').fill('1');
  await page.getByLabel('Reason (recorded in the audit log)').fill('month-end summaries');
  await page.getByLabel('Your name or e-mail').fill('dana@example.com');
  await page.getByRole('button', { name: 'Confirm decision' }).click();
  await page.waitForLoadState();
  await expect(page.locator('h1').textContent()).resolves.toContain('Decided: raise');
  await expect(page.locator('body').textContent()).resolves.toContain('The limit is now 2.35 USD');
  await page.screenshot({ path: join(SCREENSHOTS, 'approval-decided-phone.png'), fullPage: true });

  const again = await page.goto(link as string);
  expect(again?.status()).toBe(409);
  await expect(page.locator('body').textContent()).resolves.toMatch(
    /Already decided: raise by 1 USD by dana@example\.com at /,
  );
  expect(errors).toEqual([]);
}, 180_000);
