// The dashboard's entry: status strip, fleet panel with the live list, backlog panel, declared projections.

import { ApiError, setToken, token } from './api.js';
import { startBacklog } from './backlog.js';
import { startFleet } from './fleet.js';
import { startProjections } from './projections.js';
import { startStatus } from './status.js';

const $ = (id) => document.getElementById(id);

function showError(error) {
  const banner = $('error-banner');
  if (error instanceof ApiError && error.status === 401) {
    banner.textContent = 'This service needs an API token: enter it under "API token".';
    $('token-panel').open = true;
  } else {
    banner.textContent = `Could not read from the service: ${error.message}`;
  }
  banner.hidden = false;
}

function start() {
  window.opsfold = window.opsfold ?? {};
  $('token-input').value = token();
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setToken($('token-input').value.trim());
    location.reload();
  });
  startStatus();
  void Promise.all([startFleet({ onError: showError }), startBacklog({ onError: showError }), startProjections({ onError: showError })]).then(() => {
    document.body.dataset.ready = 'true';
  });
}

// uPlot's classic script is deferred; module scripts run after it.
start();
