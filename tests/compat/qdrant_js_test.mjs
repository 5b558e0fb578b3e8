// Cairn's REST server driven by the official Qdrant JS client
// (@qdrant/js-client-rest): every call a Qdrant user would make first, each
// checked against the exact ids, counts and payloads it must return.
//
// Run: CAIRN_BINARY=build/cairn node --test tests/compat/qdrant_js_test.mjs
// (tests/compat/run.sh installs the client first). Node 18.17+.
//
// Each suite starts its own `cairn serve` on a free loopback port (--port 0;
// the port is read from the {"event":"listening",...} line on stderr) over a
// fresh data directory, and ends by sending SIGTERM and checking exit code 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { QdrantClient } from '@qdrant/js-client-rest';

const BINARY = process.env.CAIRN_BINARY;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

// ------------------------------------------------------------ the server

// Starts `cairn serve`; resolves to {url, proc, stopped, stderr()} once the
// server has printed its listening line.
function startServer(extraArgs = []) {
  assert.ok(BINARY, 'set CAIRN_BINARY to the cairn binary');
  assert.ok(existsSync(BINARY), `CAIRN_BINARY ${BINARY} does not exist`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cairn-compat-'));
  const args = ['serve', '--data', dataDir, '--host', '127.0.0.1', '--port', '0',
    '--workers', '2', ...extraArgs];
  const proc = spawn(BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const stopped = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const server = {
    proc,
    dataDir,
    stopped,
    stderr: () => log,
    url: null,
  };
  const failed = (err) => {
    rmSync(dataDir, { recursive: true, force: true });
    return err;
  };
  return new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(failed(new Error(`cairn serve did not report listening in ${START_TIMEOUT_MS} ms; stderr:\n${log}`)));
    }, START_TIMEOUT_MS);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      if (server.url !== null) return;
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let event;
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        if (event.event === 'listening' && Number.isInteger(event.port) && event.port > 0) {
          clearTimeout(timer);
          server.url = `http://127.0.0.1:${event.port}`;
          resolve(server);
          return;
        }
      }
    });
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(failed(err));
    });
    stopped.then(({ code, signal }) => {
      if (server.url === null) {
        clearTimeout(timer);
        reject(failed(new Error(`cairn serve exited early (code ${code}, signal ${signal}); stderr:\n${log}`)));
      }
    });
  });
}

// SIGTERM, then the exit status (SIGKILL after STOP_TIMEOUT_MS).
async function stopServer(server) {
  if (server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGTERM');
  }
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => {
      server.proc.kill('SIGKILL');
      resolve({ code: null, signal: 'timeout' });
    }, STOP_TIMEOUT_MS);
  });
  const status = await Promise.race([server.stopped, timeout]);
  clearTimeout(timer);
  return status;
}

// Last resort in after(): the server must not outlive the test.
async function cleanup(server) {
  if (!server) return;
  if (server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGKILL');
    await server.stopped;
  }
  rmSync(server.dataDir, { recursive: true, force: true });
}

// Runs fn with console.warn captured; returns [result, warnings].
async function captureWarnings(fn) {
  const warnings = [];
  const original = console.warn;
  console.warn = (...args) => warnings.push(args.map(String).join(' '));
  try {
    return [await fn(), warnings];
  } finally {
    console.warn = original;
  }
}

// The HTTP status of a failed client call (ApiError carries it).
async function statusOf(promise) {
  try {
    await promise;
  } catch (err) {
    if (typeof err.status === 'number') return { status: err.status, data: err.data };
    throw err;
  }
  return { status: 200, data: null };
}

const sortIds = (ids) => [...ids].map(String).sort();
const approx = (actual, expected, eps = 1e-4) =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected} +- ${eps}, got ${actual}`);

// ------------------------------------------------------------ the data

const COLLECTION = 'compat';
const UUID = '5c56c793-69f3-4fbf-87e6-c4bf54c28c26';
const POINTS = [
  { id: 1, vector: [1, 0, 0, 0], payload: { color: 'red', n: 1, tags: ['a'] } },
  { id: 2, vector: [0.9, 0.1, 0, 0], payload: { color: 'blue', n: 2 } },
  { id: 3, vector: [0.8, 0.2, 0, 0], payload: { color: 'red', n: 3 } },
  { id: 4, vector: [0, 1, 0, 0], payload: { color: 'green', n: 4 } },
  { id: 5, vector: [0, 0, 1, 0], payload: { color: 'red', n: 5 } },
  { id: 6, vector: [0, 0, 0, 1], payload: { color: 'blue', n: 6 } },
  { id: UUID, vector: [0.95, 0.05, 0, 0], payload: { color: 'red', n: 7, nested: { k: 'v' } } },
];
const RED = { must: [{ key: 'color', match: { value: 'red' } }] };
const cosine = (a, b) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
};
const unit = (v) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};
const point = (id) => POINTS.find((p) => p.id === id);

// ------------------------------------------------------------ no API key

describe('qdrant js client without an API key', () => {
  let server;
  let client;

  before(async () => {
    server = await startServer();
    client = new QdrantClient({ url: server.url, checkCompatibility: false });
  });
  after(() => cleanup(server));

  test('checkCompatibility (the default) does not throw and reads the version', async (t) => {
    const [, warnings] = await captureWarnings(async () => {
      const c = new QdrantClient({ url: server.url });
      // The check runs in the background; a request after it lets it finish.
      const { collections } = await c.getCollections();
      assert.deepEqual(collections, []);
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    for (const w of warnings) t.diagnostic(`client warning: ${w}`);
    assert.ok(!warnings.some((w) => w.includes('Failed to obtain server version')),
      `the client could not read GET /: ${warnings.join('; ')}`);
    const root = await (await fetch(`${server.url}/`)).json();
    assert.match(root.version, /^\d+\.\d+\.\d+$/);
  });

  test('createCollection (size 4, Cosine)', async () => {
    assert.equal(await client.createCollection(COLLECTION, {
      vectors: { size: 4, distance: 'Cosine' },
    }), true);
    assert.deepEqual(await client.collectionExists(COLLECTION), { exists: true });
    assert.deepEqual(await client.collectionExists('absent'), { exists: false });
    const info = await client.getCollection(COLLECTION);
    assert.equal(info.status, 'green');
    assert.equal(info.points_count, 0);
    assert.deepEqual(info.config.params.vectors, { size: 4, distance: 'Cosine' });
    const { collections } = await client.getCollections();
    assert.deepEqual(collections.map((c) => c.name), [COLLECTION]);
    // Creating it again is a conflict.
    const again = await statusOf(client.createCollection(COLLECTION, {
      vectors: { size: 4, distance: 'Cosine' },
    }));
    assert.equal(again.status, 409);
    assert.match(again.data.status.error, /already exists/);
  });

  test('upsert points with payloads (wait: true)', async () => {
    const r = await client.upsert(COLLECTION, { wait: true, points: POINTS });
    assert.equal(r.status, 'completed');
    const info = await client.getCollection(COLLECTION);
    assert.equal(info.points_count, POINTS.length);
    // A wrong dimension is refused with Qdrant's error body.
    const bad = await statusOf(client.upsert(COLLECTION, {
      wait: true, points: [{ id: 99, vector: [1, 2, 3] }],
    }));
    assert.equal(bad.status, 400);
    assert.match(bad.data.status.error, /dimension/);
  });

  test('search with a filter', async () => {
    const hits = await client.search(COLLECTION, {
      vector: [1, 0, 0, 0],
      filter: RED,
      limit: 3,
      with_payload: true,
    });
    assert.deepEqual(hits.map((h) => h.id), [1, UUID, 3]);
    for (const h of hits) {
      assert.equal(h.payload.color, 'red');
      approx(h.score, cosine([1, 0, 0, 0], point(h.id).vector));
    }
    assert.deepEqual(hits[1].payload, point(UUID).payload);
    // Scores descend (Cosine similarity).
    assert.ok(hits[0].score >= hits[1].score && hits[1].score >= hits[2].score);

    // Unfiltered, with Cairn's own knob and Qdrant's exact flag.
    const all = await client.search(COLLECTION, {
      vector: [0, 0, 1, 0],
      limit: 1,
      params: { exact: false, cairn: { max_postings: 8 } },
      with_payload: false,
    });
    assert.equal(all.length, 1);
    assert.equal(all[0].id, 5);
    approx(all[0].score, 1);
    const exact = await client.search(COLLECTION, {
      vector: [1, 0, 0, 0], filter: RED, limit: 3, params: { exact: true },
    });
    assert.deepEqual(exact.map((h) => h.id), [1, UUID, 3]);
  });

  test('query (points/query) with a filter', async () => {
    const q = [0, 1, 0, 0.5];
    const res = await client.query(COLLECTION, {
      query: q,
      filter: { must_not: [{ key: 'color', match: { value: 'red' } }] },
      limit: 2,
      with_payload: true,
    });
    assert.deepEqual(res.points.map((p) => p.id), [4, 6]);
    approx(res.points[0].score, cosine(q, point(4).vector));
    approx(res.points[1].score, cosine(q, point(6).vector));
    assert.deepEqual(res.points[0].payload, point(4).payload);

    // {nearest, mmr}: with diversity 0 it is plain nearest-neighbour order.
    const mmr = await client.query(COLLECTION, {
      query: { nearest: [1, 0, 0, 0], mmr: { diversity: 0, candidates_limit: 10 } },
      limit: 3,
    });
    assert.deepEqual(mmr.points.map((p) => p.id), [1, UUID, 2]);
    // By point id: that point's vector, the point itself left out.
    const byId = await client.query(COLLECTION, { query: 1, limit: 2, filter: RED });
    assert.deepEqual(byId.points.map((p) => p.id), [UUID, 3]);
  });

  test('scroll with limit and next_page_offset', async () => {
    const page1 = await client.scroll(COLLECTION, { limit: 3 });
    assert.deepEqual(page1.points.map((p) => p.id), [1, 2, 3]);
    assert.equal(page1.next_page_offset, 4);
    assert.deepEqual(page1.points[0].payload, point(1).payload);
    const page2 = await client.scroll(COLLECTION, { limit: 3, offset: page1.next_page_offset });
    assert.deepEqual(page2.points.map((p) => p.id), [4, 5, 6]);
    assert.equal(page2.next_page_offset, UUID);
    const page3 = await client.scroll(COLLECTION, { limit: 3, offset: page2.next_page_offset });
    assert.deepEqual(page3.points.map((p) => p.id), [UUID]);
    assert.equal(page3.next_page_offset ?? null, null);
    // With a filter, pages hold only matching points.
    const red = await client.scroll(COLLECTION, { limit: 2, filter: RED, with_payload: false });
    assert.deepEqual(red.points.map((p) => p.id), [1, 3]);
    assert.equal(red.next_page_offset, 5);
  });

  test('retrieve (get by ids)', async () => {
    const got = await client.retrieve(COLLECTION, {
      ids: [2, UUID, 999],
      with_payload: true,
      with_vector: true,
    });
    assert.deepEqual(sortIds(got.map((p) => p.id)), sortIds([2, UUID]));
    const two = got.find((p) => p.id === 2);
    assert.deepEqual(two.payload, point(2).payload);
    // Cosine vectors are stored normalised, as Qdrant does.
    const want = unit(point(2).vector);
    assert.equal(two.vector.length, 4);
    two.vector.forEach((x, i) => approx(x, want[i]));
    const uuid = got.find((p) => p.id === UUID);
    assert.deepEqual(uuid.payload, point(UUID).payload);
  });

  test('count with a filter', async () => {
    assert.deepEqual(await client.count(COLLECTION, { filter: RED }), { count: 4 });
    assert.deepEqual(await client.count(COLLECTION, { exact: true }), { count: POINTS.length });
    assert.deepEqual(await client.count(COLLECTION, {
      filter: { must: [{ key: 'n', range: { gte: 2, lt: 5 } }] },
    }), { count: 3 });
  });

  test('delete by filter, then count again', async () => {
    const r = await client.delete(COLLECTION, { wait: true, filter: RED });
    assert.equal(r.status, 'completed');
    assert.deepEqual(await client.count(COLLECTION, { filter: RED }), { count: 0 });
    assert.deepEqual(await client.count(COLLECTION), { count: 3 });
    const left = await client.search(COLLECTION, { vector: [1, 0, 0, 0], limit: 10 });
    assert.deepEqual(sortIds(left.map((h) => h.id)), sortIds([2, 4, 6]));
    const gone = await client.retrieve(COLLECTION, { ids: [1, 3, 5, UUID] });
    assert.deepEqual(gone, []);
    // Delete by ids too.
    await client.delete(COLLECTION, { wait: true, points: [6] });
    assert.deepEqual(await client.count(COLLECTION), { count: 2 });
  });

  test('one named vector: upsert, query using, vector updates, points without a vector', async () => {
    const NAMED = 'named';
    assert.equal(await client.createCollection(NAMED, {
      vectors: { text: { size: 4, distance: 'Dot' } },
    }), true);
    const info = await client.getCollection(NAMED);
    assert.deepEqual(info.config.params.vectors, { text: { size: 4, distance: 'Dot' } });
    await client.upsert(NAMED, {
      wait: true,
      points: [
        { id: 1, vector: { text: [1, 0, 0, 0] }, payload: { k: 'a' } },
        { id: 2, vector: { text: [0, 1, 0, 0] }, payload: { k: 'b' } },
        { id: 3, vector: {}, payload: { k: 'bare' } },
      ],
    });
    assert.equal((await client.getCollection(NAMED)).points_count, 3);
    const q = await client.query(NAMED, { query: [0.9, 0.1, 0, 0], using: 'text', with_vector: true });
    assert.deepEqual(q.points.map((p) => p.id), [1, 2]);  // 3 has no vector
    assert.deepEqual(q.points[0].vector, { text: [1, 0, 0, 0] });
    const unknown = await statusOf(client.query(NAMED, { query: [1, 0, 0, 0], using: 'image' }));
    assert.equal(unknown.status, 400);
    assert.match(unknown.data.status.error, /Not existing vector name error: image/);
    // update_vectors gives 3 a vector; delete_vectors takes 1's away.
    await client.updateVectors(NAMED, { wait: true, points: [{ id: 3, vector: { text: [0, 0, 1, 0] } }] });
    await client.deleteVectors(NAMED, { wait: true, points: [1], vector: ['text'] });
    const got = await client.retrieve(NAMED, { ids: [1, 3], with_vector: true });
    assert.deepEqual(got.find((p) => p.id === 1).vector, {});
    assert.deepEqual(got.find((p) => p.id === 1).payload, { k: 'a' });
    assert.deepEqual(got.find((p) => p.id === 3).vector, { text: [0, 0, 1, 0] });
    const after = await client.query(NAMED, { query: [1, 0, 1, 0], using: 'text' });
    assert.deepEqual(after.points.map((p) => p.id), [3, 2]);
    assert.equal(await client.deleteCollection(NAMED), true);
  });

  test('errors come back in Qdrant\'s body', async () => {
    const missing = await statusOf(client.getCollection('absent'));
    assert.equal(missing.status, 404);
    assert.match(missing.data.status.error, /doesn't exist/);
    assert.equal(await client.deleteCollection(COLLECTION), true);
    assert.deepEqual(await client.collectionExists(COLLECTION), { exists: false });
  });

  test('SIGTERM stops the server with exit code 0', async () => {
    const status = await stopServer(server);
    assert.deepEqual(status, { code: 0, signal: null }, server.stderr());
    assert.match(server.stderr(), /"event":"stopped"/);
  });
});

// ------------------------------------------------------------ API keys

describe('qdrant js client with an API key', () => {
  const KEY = 'compat-secret-key';
  const READ_ONLY_KEY = 'compat-read-only-key';
  let server;
  let client;

  before(async () => {
    server = await startServer(['--api-key', KEY, '--read-only-api-key', READ_ONLY_KEY]);
    // apiKey over plain http: the client warns ("unsecure connection").
    [client] = await captureWarnings(() =>
      new QdrantClient({ url: server.url, apiKey: KEY, checkCompatibility: false }));
  });
  after(() => cleanup(server));

  test('the full key creates, writes and reads', async () => {
    assert.equal(await client.createCollection('keyed', {
      vectors: { size: 4, distance: 'Cosine' },
    }), true);
    const r = await client.upsert('keyed', { wait: true, points: POINTS });
    assert.equal(r.status, 'completed');
    assert.deepEqual(await client.count('keyed', { filter: RED }), { count: 4 });
    const hits = await client.search('keyed', { vector: [0, 1, 0, 0], limit: 1 });
    assert.deepEqual(hits.map((h) => h.id), [4]);
  });

  test('no key or a wrong key: 401', async () => {
    const anonymous = new QdrantClient({ url: server.url, checkCompatibility: false });
    const none = await statusOf(anonymous.getCollections());
    assert.equal(none.status, 401);
    assert.equal(typeof none.data.status.error, 'string');
    const [wrongClient] = await captureWarnings(() =>
      new QdrantClient({ url: server.url, apiKey: 'wrong', checkCompatibility: false }));
    assert.equal((await statusOf(wrongClient.count('keyed'))).status, 401);
    // The probes stay open.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/`)).status, 200);
  });

  test('Authorization: Bearer works like api-key', async () => {
    const bearer = new QdrantClient({
      url: server.url,
      checkCompatibility: false,
      headers: { Authorization: `Bearer ${KEY}` },
    });
    assert.deepEqual(await bearer.count('keyed'), { count: POINTS.length });
  });

  test('the read-only key reads but cannot write: 403', async () => {
    const [ro] = await captureWarnings(() =>
      new QdrantClient({ url: server.url, apiKey: READ_ONLY_KEY, checkCompatibility: false }));
    assert.deepEqual(await ro.count('keyed'), { count: POINTS.length });
    const page = await ro.scroll('keyed', { limit: 2 });
    assert.deepEqual(page.points.map((p) => p.id), [1, 2]);
    const write = await statusOf(ro.upsert('keyed', {
      wait: true, points: [{ id: 100, vector: [1, 1, 1, 1] }],
    }));
    assert.equal(write.status, 403);
    const del = await statusOf(ro.delete('keyed', { wait: true, points: [1] }));
    assert.equal(del.status, 403);
    assert.equal((await statusOf(ro.deleteCollection('keyed'))).status, 403);
    assert.deepEqual(await client.count('keyed'), { count: POINTS.length });
  });

  test('SIGTERM stops the server with exit code 0', async () => {
    const status = await stopServer(server);
    assert.deepEqual(status, { code: 0, signal: null }, server.stderr());
  });
});

// ------------------------------------------------------------ sparse and hybrid

describe('qdrant js client with sparse vectors and hybrid queries', () => {
  let server;
  let client;
  const H = 'hybrid';
  // Point i: dense POINTS[i].vector, sparse {dimension i: 1, dimension 100: i}.
  const sparseOf = (i) => ({ indices: [i, 100], values: [1, i] });

  before(async () => {
    server = await startServer();
    client = new QdrantClient({ url: server.url, checkCompatibility: false });
  });
  after(() => cleanup(server));

  test('create, upsert, retrieve, update and delete sparse vectors', async () => {
    assert.equal(await client.createCollection(H, {
      vectors: { 'text-dense': { size: 4, distance: 'Cosine' } },
      sparse_vectors: { 'text-sparse': { modifier: 'idf' } },
    }), true);
    const info = await client.getCollection(H);
    assert.deepEqual(info.config.params.sparse_vectors, { 'text-sparse': { modifier: 'idf' } });
    const points = POINTS.slice(0, 6).map((p, i) => ({
      id: p.id,
      vector: { 'text-dense': p.vector, 'text-sparse': sparseOf(i + 1) },
      payload: p.payload,
    }));
    points.push({ id: 7, vector: {}, payload: { color: 'none' } });
    assert.equal((await client.upsert(H, { wait: true, points })).status, 'completed');
    const [rec] = await client.retrieve(H, { ids: [2], with_vector: true });
    assert.deepEqual(rec.vector['text-sparse'], sparseOf(2));
    await client.updateVectors(H, {
      wait: true, points: [{ id: 2, vector: { 'text-sparse': { indices: [42], values: [3] } } }],
    });
    await client.deleteVectors(H, { wait: true, points: [3], vector: ['text-sparse'] });
    const recs = await client.retrieve(H, { ids: [2, 3, 7], with_vector: true });
    assert.deepEqual(recs[0].vector['text-sparse'], { indices: [42], values: [3] });
    assert.equal(recs[0].vector['text-dense'].length, 4);
    assert.equal(recs[1].vector['text-sparse'], undefined);
    assert.deepEqual(recs[2].vector, {});
  });

  test('sparse query, named sparse search, prefetch with rrf and dbsf, query batch', async () => {
    const sparse = await client.query(H, {
      query: { indices: [4, 100], values: [1, 0.1] }, using: 'text-sparse', limit: 3,
    });
    assert.equal(sparse.points[0].id, 4);
    const [searched] = await client.searchBatch(H, {
      searches: [{ vector: { name: 'text-sparse', vector: { indices: [42], values: [1] } }, limit: 2 }],
    });
    assert.deepEqual(searched.map((h) => h.id), [2]);
    for (const fusion of ['rrf', 'dbsf']) {
      const fused = await client.query(H, {
        prefetch: [
          { query: [0, 0, 1, 0], using: 'text-dense', limit: 3 },
          { query: { indices: [5], values: [1] }, using: 'text-sparse', limit: 3 },
        ],
        query: { fusion },
        limit: 2,
        with_payload: true,
      });
      // Point 5 is first in both prefetches.
      assert.equal(fused.points[0].id, 5);
      assert.equal(fused.points[0].payload.color, 'red');
      if (fusion === 'rrf') approx(fused.points[0].score, 1.0);
    }
    const batch = await client.queryBatch(H, {
      searches: [
        { query: { indices: [1], values: [1] }, using: 'text-sparse', limit: 1 },
        { prefetch: { query: { indices: [100], values: [1] }, using: 'text-sparse', limit: 6 },
          query: [1, 0, 0, 0], using: 'text-dense', limit: 1 },
      ],
    });
    assert.deepEqual(batch.map((r) => r.points[0].id), [1, 1]);
    const bad = await statusOf(client.query(H, { query: { fusion: 'rrf' } }));
    assert.equal(bad.status, 400);
    assert.match(bad.data.status.error, /fusion needs prefetch/);
  });
});
