import { usd } from '../../shared/money';
import { renderReport } from '../../shared/report/html';
import { buildReport } from '../../shared/report/report';
import { novemberInput } from '../fixtures/report';

describe('the spend report’s data', () => {
  const report = buildReport(novemberInput());

  it('adds each principal’s calls of the period up in time order, from 0 at the period’s start, to the cent', () => {
    const alice = report.charts.find((chart) => chart.principal === 'user/alice');
    expect(alice?.series).toEqual([
      { at: '2026-11-01T00:00:00.000Z', cumulativeUsd: '0' },
      { at: '2026-11-03T10:00:00.000Z', cumulativeUsd: '4.1' },
      { at: '2026-11-09T10:00:00.000Z', cumulativeUsd: '8.25' },
      { at: '2026-11-15T10:00:00.000Z', cumulativeUsd: '10.25' },
    ]);
    expect(alice?.recordedUsd).toBeUndefined(); // the records add up to the counter
    expect(report.account.series.at(-1)?.cumulativeUsd).toBe('10.55');
  });

  it('marks a chart with its principal’s alerts, suspensions, lifts, overrides and limit changes, in time order', () => {
    const alice = report.charts.find((chart) => chart.principal === 'user/alice');
    expect(alice?.markers).toEqual([
      { at: '2026-11-09T10:00:01.000Z', action: 'threshold.alerted', label: '80% alert' },
      { at: '2026-11-15T10:00:01.000Z', action: 'deny.applied', label: 'suspended' },
    ]);
  });

  it('orders principals by their share of the limit (a zero limit has no percent), and sums spend by model', () => {
    expect(report.principals.map((row) => [row.principal, row.percent])).toEqual([
      ['user/alice', '102.50'],
      ['user/bob', '3.00'],
      ['user/carol', null],
    ]);
    expect(report.byModel).toEqual([
      { model: 'anthropic.claude-sonnet-4-20250514-v1:0', spendUsd: '10.25' },
      { model: 'amazon.nova-pro-v1:0', spendUsd: '0.3' },
    ]);
  });

  it('charts only the principal asked for, or the top ones', () => {
    expect(buildReport(novemberInput({ principal: 'user/bob' })).charts.map((c) => c.principal)).toEqual(['user/bob']);
    expect(buildReport(novemberInput({ top: 1 })).charts.map((c) => c.principal)).toEqual(['user/alice']);
  });

  it('says when the records add up to less than the counter (records past their retention)', () => {
    const short = buildReport(novemberInput({ calls: [] }));
    expect(short.charts.find((c) => c.principal === 'user/alice')?.recordedUsd).toBe('0');
  });
});

describe('the spend report’s page', () => {
  const html = renderReport(buildReport(novemberInput()));

  it('is self-contained: no script, no external asset, one inline style sheet', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html.match(/<style>/g)).toHaveLength(1);
    expect(html).toMatch(/^<!doctype html>/);
  });

  it('holds under every chart a table with the same numbers, and labels each chart for readers without it', () => {
    expect(html.match(/<svg /g)?.length).toBe(1 + 3 + 2); // the account, three principals, limits and models
    expect(html).toContain('Cumulative spend of user/alice over 2026-11: $10.25 of a $10.00 limit, 2 event(s) marked');
    expect(html).toContain('<td>2026-11-09</td><td class="num">$4.15</td><td class="num">$8.25</td>');
    expect(html).toContain('<td>2026-11-15 10:00</td><td class="wrap">suspended</td><td class="num">$10.25</td>');
    expect(html).toContain('zero limit');
  });

  it('escapes every name it shows', () => {
    const hostile = renderReport(
      buildReport(
        novemberInput({
          rows: [{ principal: 'user/<img src=x onerror=alert(1)>', spendUsd: '1', limitUsd: '2' }],
          calls: [],
          events: [],
        }),
      ),
    );
    expect(hostile).not.toContain('<img');
    expect(hostile).toContain('user/&lt;img src=x onerror=alert(1)&gt;');
  });

  it('zooms the time axis to the activity when it fills a small part of the period, and says so', () => {
    const minutes = renderReport(
      buildReport(
        novemberInput({
          calls: [
            { at: '2026-11-20T10:00:00.000Z', principal: 'user/alice', model: 'm', costUsd: usd('1') },
            { at: '2026-11-20T10:04:00.000Z', principal: 'user/alice', model: 'm', costUsd: usd('2') },
          ],
          events: [],
        }),
      ),
    );
    expect(minutes).toMatch(/All activity of 2026-11 lies between 2026-11-20 09:5\d and 2026-11-20 10:0\d UTC/);
    expect(html).not.toContain('All activity of');
  });
});
