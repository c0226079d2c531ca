import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import express, { type Router } from 'express';

/** The dashboard's own files: beside this module in the sources, also when it runs from dist/. */
export function dashboardDir(): string {
  const candidates = [join(__dirname, 'dashboard'), resolve(__dirname, '../../../../src/adapters/http/dashboard')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (found === undefined) throw new Error(`the dashboard files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * The dashboard at `/` (plain HTML, CSS and an ES module, no build step) and the chart
 * library it draws with, uPlot, served from node_modules: no CDN, works offline.
 */
export function dashboardRouter(): Router {
  const router = express.Router();
  const uplot = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const headers = { 'Cache-Control': 'no-cache' };
  router.get('/assets/uPlot.iife.min.js', (_req, res) => res.set(headers).sendFile(join(uplot, 'uPlot.iife.min.js')));
  router.get('/assets/uPlot.min.css', (_req, res) => res.set(headers).sendFile(join(uplot, 'uPlot.min.css')));
  router.use(express.static(dashboardDir(), { index: 'index.html', setHeaders: (res) => res.set(headers) }));
  return router;
}
