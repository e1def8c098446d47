#!/usr/bin/env node
// Runs `prisma generate` offline. The CLI wants to download the schema engine first; generate does not
// use it, so a placeholder path keeps it from trying (see README, "How it is built").
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!fs.existsSync(cli)) {
  console.error('prisma-generate: node_modules/prisma missing; run npm ci first');
  process.exit(1);
}
const placeholder = path.join(root, 'node_modules', '.cache', 'prisma-schema-engine-placeholder');
fs.mkdirSync(path.dirname(placeholder), { recursive: true });
if (!fs.existsSync(placeholder)) fs.writeFileSync(placeholder, '');
const res = spawnSync(process.execPath, [cli, 'generate'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? placeholder,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  },
});
process.exit(res.status ?? 1);
