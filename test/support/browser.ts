import { chromium, type Browser, type Page } from 'playwright-core';

/** The Chromium `npm test` made sure of (scripts/ensure-chromium.js): CHROMIUM_PATH, or Debian's. Never a downloaded browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A new page whose Content-Security-Policy violations are pushed onto `into` (directive, blocked
 * resource and where), from before its first script runs: the page's own `securitypolicyviolation`
 * events and Chromium's console reports of them.
 */
export async function newWatchedPage(browser: Browser, into: string[], options?: Parameters<Browser['newPage']>[0]): Promise<Page> {
  const page = await browser.newPage(options);
  await page.exposeBinding('__opsfoldCspViolation', (_source, text: string) => void into.push(text));
  await page.addInitScript(() => {
    const report = (globalThis as unknown as { __opsfoldCspViolation(text: string): void }).__opsfoldCspViolation;
    (globalThis as unknown as { document: { addEventListener(type: string, f: (e: Record<string, unknown>) => void): void } }).document
      .addEventListener('securitypolicyviolation', (e) => report(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) into.push(m.text());
  });
  return page;
}
