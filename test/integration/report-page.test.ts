import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { renderReport } from '../../shared/report/html';
import { buildReport } from '../../shared/report/report';
import { novemberInput } from '../fixtures/report';

/**
 * The spend report as a FinOps reader opens it: the page `budgeteer report --html` writes, in headless Chromium at
 * phone and desktop width. Screenshots land in .local/screenshots for a person to look at.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(__dirname, '..', '..', '.local', 'screenshots');

let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
});

it.each([
  ['phone', 390, 844],
  ['desktop', 1280, 900],
])(
  'reads at %s width: charts drawn, nothing wider than the screen, tables beside them',
  async (name, width, height) => {
    expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs the Debian package `chromium`
    mkdirSync(SCREENSHOTS, { recursive: true });
    const file = join(SCREENSHOTS, 'report.html');
    writeFileSync(file, renderReport(buildReport(novemberInput())));
    browser ??= await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage({ viewport: { width, height } });
    const requests: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith('file:')) requests.push(request.url());
    });
    await page.goto(`file://${file}`);

    // A string, evaluated in the page: this project's TypeScript has no DOM types.
    const layout = (await page.evaluate(`({
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      charts: [...document.querySelectorAll('svg')].map((svg) => {
        const box = svg.getBoundingClientRect();
        return { width: Math.round(box.width), height: Math.round(box.height), label: svg.getAttribute('aria-label') };
      }),
      tables: document.querySelectorAll('table').length,
      lines: document.querySelectorAll('path.spend').length,
    })`)) as {
      overflow: number;
      charts: { width: number; height: number; label: string | null }[];
      tables: number;
      lines: number;
    };
    await page.screenshot({ path: join(SCREENSHOTS, `report-${name}.png`), fullPage: true });

    expect(requests).toEqual([]); // self-contained: nothing fetched
    expect(layout.overflow).toBe(0);
    expect(layout.charts).toHaveLength(6);
    for (const chart of layout.charts) {
      expect(chart.width).toBeGreaterThan(Math.min(width, 760) - 60);
      expect(chart.height).toBeGreaterThan(40);
      expect(chart.label).toBeTruthy();
    }
    expect(layout.lines).toBe(4); // the account and three principals
    expect(layout.tables).toBeGreaterThanOrEqual(6);
    await page.close();
  },
);
