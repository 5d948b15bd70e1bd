// Drives the published MCP server ainative-zerodb-memory-mcp 1.2.7 (pinned in
// package-lock.json, installed by scripts/nodeenv) against a ZeroDB server,
// as an MCP host would: it spawns the server over stdio, does the handshake,
// lists the tools, stores three facts with zerodb_store_memory (each one
// POST .../embeddings/generate, which the edge refuses for the model the
// server asks for, then POST /api/v1/public/memory/v2/remember)
// and asks zerodb_search_memory (POST /api/v1/public/memory/v2/recall) a
// question that only one fact answers; that fact must come first.
//
// Env: ZERODB_BASE_URL (loopback only), ZERODB_API_KEY, ZERODB_PROJECT_ID,
// optional ZERODB_NODE_MODULES (default: node_modules beside this file).
// Prints one JSON line on success; exits 1 with a message on any mismatch.
// Only Node's own modules are used: the JSON-RPC of MCP's stdio transport is
// one JSON object a line.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'memory_mcp';
const FACTS = [
  "The user's sister Maria lives in Lisbon and works as a marine biologist.",
  'The user is allergic to peanuts and avoids Thai satay dishes.',
  "The user's car is a blue 2015 Honda Civic that needs new brakes.",
];
// Answered by the second fact only; it is not stored last, so that a recency
// bonus in the server's ranking cannot be what puts it first.
const QUESTION = 'Which food is the user allergic to?';
const EXPECTED = FACTS[1];
const TIMEOUT_MS = 30_000;

let child = null;
let stderr = '';
let home = null;

function fail(message) {
  console.error(`${NAME}: FAIL: ${message}`);
  if (stderr) console.error(`--- server stderr (last lines) ---\n${stderr.split('\n').slice(-30).join('\n')}`);
  cleanup();
  process.exit(1);
}

function cleanup() {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  if (home) rmSync(home, { recursive: true, force: true });
}

function settings() {
  const missing = ['ZERODB_BASE_URL', 'ZERODB_API_KEY', 'ZERODB_PROJECT_ID'].filter((k) => !process.env[k]);
  if (missing.length) fail(`set ${missing.join(', ')} (a local server's base URL, key and project id)`);
  const base = process.env.ZERODB_BASE_URL.replace(/\/+$/, '');
  // With no ZERODB_API_URL the server probes http://localhost:8000/health and
  // then uses the hosted service; with no key it provisions one there. Only a
  // local server may ever be named, and all three settings are always given.
  const host = new URL(base).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) fail(`ZERODB_BASE_URL must be a loopback address, got ${base}`);
  const modules = process.env.ZERODB_NODE_MODULES || fileURLToPath(new URL('./node_modules', import.meta.url));
  return { base, key: process.env.ZERODB_API_KEY, project: process.env.ZERODB_PROJECT_ID, modules };
}

// One JSON-RPC exchange at a time over the child's stdin/stdout.
const pending = new Map();
let nextId = 1;
let buffered = '';

function onStdout(chunk) {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline).trim();
    buffered = buffered.slice(newline + 1);
    if (!line) continue;
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      fail(`the server wrote a line that is not JSON-RPC on stdout: ${line.slice(0, 200)}`);
    }
    const waiter = pending.get(message.id);
    if (waiter) {
      pending.delete(message.id);
      waiter(message);
    }
  }
}

function send(message) {
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', ...message }) + '\n');
}

function request(method, params) {
  const id = nextId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`no answer to ${method} within ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
    pending.set(id, (message) => {
      clearTimeout(timer);
      if (message.error) fail(`${method} answered a JSON-RPC error: ${JSON.stringify(message.error)}`);
      resolve(message.result);
    });
    send({ id, method, params });
  });
}

// A tool's result is one text item holding JSON; isError marks a failed call
// (for example an HTTP error from the server, whose `detail` it carries).
async function callTool(name, args) {
  const result = await request('tools/call', { name, arguments: args });
  const text = result?.content?.[0]?.text;
  if (result?.isError) fail(`${name} failed: ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    fail(`${name} gave no JSON: ${text}`);
  }
}

async function main() {
  const { base, key, project, modules } = settings();
  // A scratch HOME and working directory: the server reads ./.env and looks
  // for .mcp.json up the tree; nothing of the developer's may be picked up.
  home = mkdtempSync(join(tmpdir(), 'zerodb-memory-mcp-'));
  // A clean environment: only what the server needs, and no proxy variables
  // (axios honours them) between it and the local server.
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ZERODB_API_URL: base,
    ZERODB_API_KEY: key,
    ZERODB_PROJECT_ID: project,
  };
  const entry = join(modules, 'ainative-zerodb-memory-mcp', 'index.js');
  child = spawn(process.execPath, [entry], { cwd: home, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8').on('data', onStdout);
  child.stderr.setEncoding('utf8').on('data', (s) => { stderr += s; });
  child.on('exit', (code, signal) => {
    if (pending.size) fail(`the server exited (code ${code}, signal ${signal}) while a request was open`);
  });
  child.on('error', (e) => fail(`cannot start ${entry}: ${e.message}`));

  const init = await request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'zerodb-edge-test', version: '1' },
  });
  send({ method: 'notifications/initialized' });

  const tools = (await request('tools/list', {})).tools.map((t) => t.name);
  for (const name of ['zerodb_store_memory', 'zerodb_search_memory']) {
    if (!tools.includes(name)) fail(`tools/list has no ${name}: ${tools.join(', ')}`);
  }

  // A fresh session: the server stores into namespace "session:<id>" and
  // recalls from that namespace only, so earlier runs' facts cannot answer.
  const session = randomUUID();
  const ids = [];
  for (const content of FACTS) {
    const stored = await callTool('zerodb_store_memory', { content, session_id: session, role: 'user', tags: ['test'] });
    if (stored.success !== true || !stored.memory_id) fail(`zerodb_store_memory gave ${JSON.stringify(stored)}`);
    ids.push(stored.memory_id);
  }
  if (new Set(ids).size !== FACTS.length) fail(`remember should give distinct memory ids, got ${ids}`);

  const found = await callTool('zerodb_search_memory', { query: QUESTION, session_id: session, limit: 3 });
  const contents = (found.results || []).map((r) => r.content);
  if (contents[0] !== EXPECTED) fail(`expected "${EXPECTED}" first, got ${JSON.stringify(contents)}`);
  // The tool reports each hit's `score` (else `similarity`) as `similarity`.
  const scores = found.results.map((r) => r.similarity);
  if (typeof scores[0] !== 'number' || scores.some((s) => s > scores[0])) {
    fail(`the first hit should have the highest numeric score, got ${JSON.stringify(scores)}`);
  }

  // The server checks the key at start (POST .../memory/v2/recall with query
  // "__auth_check__") and goes on even when that fails.
  if (!stderr.includes('Auth validated')) fail('the start-up key check (memory/v2/recall) did not pass');
  // Before each remember it asks embeddings/generate for a copy of the vector
  // by BAAI/bge-small-en-v1.5 (hard-coded), which the edge does not run: it
  // must be refused as that, naming the model the edge runs (the server then
  // only warns, and remember embeds the content itself). Any other failure
  // of generate fails the test.
  for (const line of stderr.split('\n').filter((l) => l.includes('Auto-embedding failed'))) {
    if (!line.includes('"BAAI/bge-small-en-v1.5" is not loaded') || !line.includes('sentence-transformers/all-MiniLM-L6-v2')) {
      fail(`embeddings/generate failed otherwise than refusing BAAI/bge-small-en-v1.5: ${line}`);
    }
  }

  console.log(JSON.stringify({
    client: 'ainative-zerodb-memory-mcp@1.2.7', ok: true, protocol: init.protocolVersion,
    tools: tools.length, session, stored: ids.length, top: EXPECTED, scores,
  }));
  cleanup();
}

main().catch((e) => fail(e?.stack || String(e)));
