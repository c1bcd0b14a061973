import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const KEY = 'docs-test-key';
const PAGES = ['/docs', '/docs/', '/docs/static/swagger-initializer.js', '/openapi.json'];

/** Status of each page; a redirect (/docs → /docs/) counts as reachable. */
async function statuses(base: string, headers: Record<string, string> = {}): Promise<number[]> {
  return Promise.all(PAGES.map(async (page) => (await http(`${base}${page}`, { headers })).status));
}

describe('/docs and /openapi.json behind API_KEY', () => {
  let guarded: ServiceProcess;
  let open: ServiceProcess;

  before(async () => {
    [guarded, open] = await Promise.all([
      ServiceProcess.start(['serve', 'tts'], { API_KEY: KEY }),
      ServiceProcess.start(['serve', 'tts']),
    ]);
  });
  after(() => Promise.all([guarded?.stop(), open?.stop()]));

  it('need the key when API_KEY is set', async () => {
    assert.deepEqual(await statuses(guarded.url('tts')), [401, 401, 401, 401]);
    const withKey = await statuses(guarded.url('tts'), { authorization: `Bearer ${KEY}` });
    for (const [i, status] of withKey.entries())
      assert.ok(status === 200 || status === 302, `${PAGES[i]}: ${status}`);
    assert.equal((await http(`${guarded.url('tts')}/health`)).status, 200, 'health stays open');
  });

  it('stay open when API_KEY is unset', async () => {
    const plain = await statuses(open.url('tts'));
    for (const [i, status] of plain.entries())
      assert.ok(status === 200 || status === 302, `${PAGES[i]}: ${status}`);
  });
});
