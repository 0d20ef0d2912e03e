// The dashboard in headless Chromium (tests/dashboard/run.sh starts the proxy and pays first).
// Environment: ADMIN_URL, ADMIN_TOKEN, CHROMIUM, PAGE_ONLY (1: no /v1/ checks), MERCHANT_A,
// MERCHANT_B, HELD_APPROVE, HELD_DENY (the held requests' URLs), SCREENSHOT (where to save it).
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import assert from 'node:assert/strict';

const env = process.env;
const admin = env.ADMIN_URL;
const pageOnly = env.PAGE_ONLY === '1';
const say = (...m) => console.log(...m);

// ---- a small PNG reader: 8-bit RGB/RGBA, not interlaced (what Chromium writes) ---------------
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'not a PNG');
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth');
      assert.equal(data[12], 0, 'interlaced');
      channels = { 2: 3, 6: 4 }[data[9]];
      assert.ok(channels, 'colour type ' + data[9]);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, channels, pixels: out };
}

function colourStats(png, rgb) {
  const colours = new Set();
  let matching = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const [r, g, b] = [png.pixels[i], png.pixels[i + 1], png.pixels[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (rgb && Math.abs(r - rgb[0]) < 8 && Math.abs(g - rgb[1]) < 8 && Math.abs(b - rgb[2]) < 8) {
      matching++;
    }
  }
  return { distinct: colours.size, matching };
}

async function api(path, options = {}) {
  const r = await fetch(admin + path, {
    method: options.method || 'GET',
    headers: { Authorization: 'Bearer ' + env.ADMIN_TOKEN },
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const rows = (page, table) => page.locator(`#${table} tbody tr`);

// ---- the checks ------------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|404)/.test(m.text())) problems.push('console: ' + m.text());
  });
  // Whatever the page asks for stays on the admin listener: no CDN, works offline.
  const elsewhere = [];
  const authorizations = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(admin + '/')) elsewhere.push(r.url());
    if (r.url().includes('/v1/')) authorizations.push(r.headers().authorization || '');
  });

  // The page and its assets are served without a token.
  const main = await page.goto(admin + '/');
  assert.equal(main.status(), 200);
  assert.match(main.headers()['content-type'], /^text\/html/);
  for (const [path, type] of [['/ui/app.js', /javascript/], ['/ui/app.css', /text\/css/]]) {
    const r = await fetch(admin + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type'), type, path);
  }
  assert.equal(await page.title(), '402flow');
  say('page and assets served without a token');

  // Without the token the data calls are refused, and the page says why.
  await page.waitForFunction(() => /token/.test(document.getElementById('status').textContent));
  assert.ok(authorizations.length > 0 && authorizations.every((a) => a === ''));
  say('without a token: ' + (await page.textContent('#status')));

  // The token, typed in, is kept in sessionStorage and sent as a bearer token.
  await page.fill('#token', env.ADMIN_TOKEN);
  await page.click('#token-save');
  await page.waitForFunction(() => !/token/.test(document.getElementById('status').textContent));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('402flow.admin.token')), env.ADMIN_TOKEN);
  assert.ok(authorizations.includes('Bearer ' + env.ADMIN_TOKEN), 'the bearer token was not sent');
  // A reload keeps it (same tab session).
  await page.reload();
  assert.equal(await page.inputValue('#token'), env.ADMIN_TOKEN);
  say('token field: kept in sessionStorage, sent as Authorization: Bearer');

  if (!pageOnly) {
    // Receipts: the three paid requests, with their amounts, merchants and state.
    await page.waitForFunction(() => document.querySelectorAll('#receipts tbody tr').length === 3);
    const receiptTexts = await rows(page, 'receipts').allInnerTexts();
    for (const t of receiptTexts) {
      assert.match(t, /0\.01 USDC/);
      assert.match(t, /settled/);
      assert.match(t, /dash-agent/);
    }
    assert.equal(receiptTexts.filter((t) => t.includes(env.MERCHANT_A)).length, 2);
    assert.equal(receiptTexts.filter((t) => t.includes(env.MERCHANT_B)).length, 1);
    say('receipts: 3 settled, 0.01 USDC each, 2 at merchant A, 1 at merchant B');

    // Filters: by merchant, then by a state nothing is in.
    await page.fill('#filter-merchant', env.MERCHANT_B);
    await page.click('#receipt-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#receipts tbody tr').length === 1);
    await page.fill('#filter-merchant', '');
    await page.selectOption('#filter-state', 'failed');
    await page.click('#receipt-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#receipts tbody tr').length === 0);
    assert.ok(await page.isVisible('#receipts-empty'));
    await page.selectOption('#filter-state', '');
    await page.click('#receipt-filters button[type=submit]');
    say('receipt filters: merchant B → 1, state failed → none');

    // Caps: the 50 USDC daily budget with 0.03 USDC used.
    const budget = page.locator('#caps tbody tr', { has: page.locator('td.limit', { hasText: '50 USDC' }) });
    await budget.first().waitFor();
    assert.equal((await budget.first().locator('td.used').innerText()).trim(), '0.03 USDC');
    say('caps: 0.03 USDC used of 50 USDC');

    // Observed merchants: both origins.
    await page.waitForFunction(() => document.querySelectorAll('#merchants tbody tr').length >= 2);
    const merchants = (await rows(page, 'merchants').allInnerTexts()).join('\n');
    assert.ok(merchants.includes(env.MERCHANT_A) && merchants.includes(env.MERCHANT_B), merchants);
    say('observed merchants: both origins');

    // Charts: one line per agent, one per merchant, with the totals in the legends.
    assert.equal(await page.locator('#chart-agent path.series').count(), 1);
    assert.equal(await page.locator('#chart-merchant path.series').count(), 2);
    assert.match(await page.innerText('#chart-agent .legend'), /dash-agent: 0\.03 USDC/);
    say('charts: 1 agent line (0.03 USDC), 2 merchant lines');

    // Pending approvals: the two held requests; approve one, deny the other with a reason.
    await page.waitForFunction(() => document.querySelectorAll('#approvals tbody tr').length === 2);
    const approveRow = page.locator('#approvals tbody tr', { hasText: env.HELD_APPROVE });
    const denyRow = page.locator('#approvals tbody tr', { hasText: env.HELD_DENY });
    assert.match(await approveRow.innerText(), /5 USDC/);
    assert.match(await approveRow.innerText(), /review\.amount_over/);
    const approveId = await approveRow.getAttribute('data-id');
    const denyId = await denyRow.getAttribute('data-id');
    // Screenshot with everything on it, before the decisions empty the approvals.
    await saveScreenshot(page, true);
    await approveRow.locator('button.approve').click();
    await page.waitForFunction((id) => !document.querySelector(`#approvals tr[data-id="${id}"]`), approveId);
    await denyRow.locator('button.deny').click();
    await denyRow.locator('input.reason').fill('not this one');
    await denyRow.locator('button.deny-confirm').click();
    await page.waitForFunction(() => document.querySelectorAll('#approvals tbody tr').length === 0);
    const approved = await api('/v1/approvals/' + approveId);
    assert.ok(['approved', 'used'].includes(approved.body.state), JSON.stringify(approved.body));
    const denied = await api('/v1/approvals/' + denyId);
    assert.equal(denied.body.state, 'denied');
    assert.equal(denied.body.note, 'not this one');
    say(`approvals: ${approveId} approved and ${denyId} denied from the page`);
    // The approved request is paid: a fourth receipt shows up.
    await page.waitForFunction(() => document.querySelectorAll('#receipts tbody tr').length === 4,
      null, { timeout: 15000 });
    say('receipts: the approved request appears, paid');
  } else {
    await saveScreenshot(page, false);
  }
  assert.deepEqual(elsewhere, [], 'the page fetched from elsewhere');
  assert.deepEqual(problems, []);
} finally {
  await browser.close();
}

async function saveScreenshot(page, withData) {
  const shot = await page.screenshot({ fullPage: true });
  writeFileSync(env.SCREENSHOT, shot);
  const png = decodePng(shot);
  // The chart's first series colour (#2563eb) when data is drawn.
  const stats = colourStats(png, [0x25, 0x63, 0xeb]);
  const blank = await page.context().newPage();
  await blank.setContent('<html><body></body></html>');
  const blankStats = colourStats(decodePng(await blank.screenshot()));
  await blank.close();
  say(`screenshot ${png.width}x${png.height}: ${stats.distinct} colours (a blank page: ${blankStats.distinct}), ` +
    `${stats.matching} pixels of the first series colour`);
  assert.equal(blankStats.distinct, 1);
  assert.ok(stats.distinct > 50, 'the screenshot is (nearly) blank');
  if (withData) assert.ok(stats.matching > 100, 'no chart line drawn');
}
