// Builds the /ops page's script and styles (uPlot included) into one
// directory: internal/ops/assets by default (`make ops-web`), or the
// directory given as the first argument (the Go test that checks the
// committed bundle is fresh builds into a temporary one and compares).
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(process.argv[2] ?? path.join(here, '../../internal/ops/assets'));

await esbuild.build({
  entryPoints: [path.join(here, 'ops.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  charset: 'utf8',
  legalComments: 'eof',
  logLevel: 'warning',
  outdir,
  entryNames: '[name]',
});
