/**
 * The Grafana dashboard in deploy/ may query only what the services export: every
 * series name and every label it groups or filters by must appear in the live
 * /metrics output of the real TTS server after some traffic.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const DASHBOARD_PATH = fileURLToPath(
  new URL('../../../deploy/grafana/voice-stack-dashboard.json', import.meta.url),
);

interface Panel {
  id: number;
  title: string;
  datasource?: { uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Array<{ expr: string; datasource?: { uid?: string } }>;
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; definition: string }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
/** Labels Prometheus adds at scrape time, or that Grafana's histogram_quantile needs. */
const SCRAPE_LABELS = new Set(['instance', 'job']);
/** Grafana's import placeholder for the Prometheus data source, not a template literal. */
const DATASOURCE_INPUT = ['$', '{DS_PROMETHEUS}'].join('');

function allQueries(): string[] {
  const panelQueries = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  return [...panelQueries, ...dashboard.templating.list.map((v) => v.definition)];
}

function seriesNames(expr: string): string[] {
  return [...expr.matchAll(/\bvoice_stack_[a-z0-9_]+/g)].map((m) => m[0]);
}

/** Labels an expression filters on (`{a="…"}`) or groups by (`by (a, b)`). */
function labelsUsed(expr: string): string[] {
  const filters = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
    [...(m[1] ?? '').matchAll(/([a-z_]+)\s*[!=]~?/g)].map((l) => l[1] ?? ''),
  );
  const groups = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] ?? '').split(',').map((l) => l.trim()),
  );
  return [...filters, ...groups].filter((l) => l !== '' && !SCRAPE_LABELS.has(l));
}

/** series name → the label names seen on its samples. */
function parseExposition(text: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!match?.[1]) continue;
    const labels = series.get(match[1]) ?? new Set<string>();
    for (const label of (match[3] ?? '').matchAll(/([a-zA-Z_]+)="/g)) labels.add(label[1] ?? '');
    series.set(match[1], labels);
  }
  return series;
}

describe('Grafana dashboard', () => {
  let server: ServiceProcess;
  let exposed: Map<string, Set<string>>;

  before(async () => {
    // A short idle timeout so that the unload series exists too.
    server = await ServiceProcess.start(['serve', 'tts'], { TTS_IDLE_TIMEOUT_MINUTES: '0.005' });
    const base = server.url('tts');
    const speech = { model: 'tts-1', input: 'Metrics.', voice: 'alloy', response_format: 'wav' };
    assert.equal((await http(`${base}/v1/audio/speech`, { json: speech })).status, 200);
    assert.equal((await http(`${base}/v1/audio/speech`, { json: { ...speech, speed: 99 } })).status, 400);
    const deadline = Date.now() + 15_000;
    do {
      exposed = parseExposition((await http(`${base}/metrics`)).body.toString('utf8'));
      if (exposed.has('voice_stack_model_unloads_total')) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
  });
  after(() => server.stop());

  test('queries only series that /metrics exports', () => {
    const names = new Set(allQueries().flatMap(seriesNames));
    assert.ok(names.size >= 10, `the dashboard queries ${names.size} series`);
    const missing = [...names].filter((name) => !exposed.has(name));
    assert.deepEqual(missing, [], `series not in /metrics: ${missing.join(', ')}`);
  });

  test('filters and groups only by labels those series carry', () => {
    const problems: string[] = [];
    for (const expr of allQueries()) {
      const carried = new Set(seriesNames(expr).flatMap((name) => [...(exposed.get(name) ?? [])]));
      for (const label of labelsUsed(expr)) {
        if (!carried.has(label)) problems.push(`${label} in ${expr}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('shows latency percentiles, queue depth, active slots, rejections by reason and model state', () => {
    const queries = allQueries().join('\n');
    assert.match(queries, /histogram_quantile\(0\.95, .*voice_stack_request_duration_seconds_bucket/);
    assert.match(queries, /voice_stack_queue_depth/);
    assert.match(queries, /voice_stack_active_requests/);
    assert.match(queries, /by \(service, reason\) \(rate\(voice_stack_rejections_total/);
    assert.match(queries, /voice_stack_model_loaded/);
  });

  test('is importable: unique panel ids, one datasource input, panels inside the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of dashboard.panels) {
      assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, panel.title);
      assert.equal(panel.datasource?.uid, DATASOURCE_INPUT, panel.title);
      assert.ok(panel.targets.length > 0, panel.title);
    }
  });

  test('the label check catches a series the services do not export', () => {
    const fake = 'rate(voice_stack_made_up_total{service="tts"}[5m])';
    assert.equal(exposed.has(seriesNames(fake)[0] ?? ''), false);
    assert.deepEqual(labelsUsed('sum by (service, reason) (x{route!~"/h"})'), ['route', 'service', 'reason']);
  });
});
