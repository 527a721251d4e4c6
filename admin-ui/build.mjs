// Builds dist/ from src/: one JS bundle and one CSS bundle (esbuild, minified, no
// source maps, no timestamps or hashes, so the output is byte-for-byte reproducible
// and CI can check that the committed dist/ is current), plus index.html.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/assets', { recursive: true });
await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outdir: 'dist/assets',
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync('src/index.html', 'dist/index.html');
