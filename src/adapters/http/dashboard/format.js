// Formatting shared by the panels: numbers, UTC times, dates and a counter's unit.

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatNumber(v) {
  return v === null || v === undefined || Number.isNaN(v) ? '–' : number.format(v);
}

export function formatInteger(v) {
  return v === null || v === undefined ? '–' : integer.format(v);
}

export function formatSigned(v) {
  if (v === null || v === undefined) return '–';
  return v > 0 ? `+${integer.format(v)}` : v < 0 ? `−${integer.format(-v)}` : '0';
}

/** Epoch seconds as `YYYY-MM-DD HH:MM` (UTC). */
export function formatTime(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

export function formatClock(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 16);
}

/** A duration in seconds, short: `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** `YYYY-MM-DD` as the epoch seconds of its midnight, UTC (a date's place on a time axis). */
export function dateToSeconds(date) {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

export function secondsToDate(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

/** The unit a SPOC counter key's name implies, for axis labels ('' when it says none). */
export function unitOf(key) {
  const k = key.toLowerCase();
  if (/percent|pct|utili[sz]ation/.test(k)) return '%';
  if (/(^|[._])(mb|mbytes|megabytes)($|[._])|_mb$/.test(k)) return 'MB';
  if (/(^|[._])(kb|kbytes)($|[._])|_kb$/.test(k)) return 'KB';
  if (/bytes/.test(k)) return 'bytes';
  if (/per_?sec|_persec|\/s$/.test(k)) return 'per second';
  if (/(^|[._])(ms|milliseconds)($|[._])|_ms$/.test(k)) return 'ms';
  if (/seconds|_sec$|(^|[._])s$/.test(k)) return 's';
  if (/win_service|state|status/.test(k)) return 'state';
  return '';
}
