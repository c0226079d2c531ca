// The status strip: watermark delay, late and rejected counts, windows emitted, and the
// simulated-source banner, from /healthz every few seconds.

import { getJson } from './api.js';
import { formatDuration, formatInteger } from './format.js';

const $ = (id) => document.getElementById(id);

export function startStatus({ everyMs = 5000 } = {}) {
  const refresh = async () => {
    try {
      // A failing service answers 503 with the same body (status "failing"): show it all the same.
      const health = await getJson('/healthz').catch((error) => (error.status === 503 && error.body ? error.body : Promise.reject(error)));
      const p = health.projector ?? {};
      $('status-source').textContent = health.simulated ? 'simulated' : health.source ?? 'api';
      $('status-source').classList.toggle('warn', Boolean(health.simulated));
      $('status-delay').textContent = formatDuration(p.watermarkDelaySeconds);
      $('status-late').textContent = formatInteger(p.late);
      $('status-rejected').textContent = formatInteger(health.ingest?.rejected);
      $('status-windows').textContent = `${formatInteger(p.windowsEmitted)} (${formatInteger(p.revisions)} revisions)`;
      $('simulated-banner').hidden = !health.simulated;
      document.body.dataset.health = health.status ?? 'unknown';
    } catch {
      document.body.dataset.health = 'unreachable';
      $('status-source').textContent = 'unreachable';
    }
  };
  void refresh();
  return setInterval(refresh, everyMs);
}

/** The live-stream indicator: live, reconnecting, unauthorized. */
export function setLiveState(state) {
  const dd = $('status-live');
  dd.dataset.state = state;
  $('status-live-text').textContent = state;
}
