/**
 * Headless Chromium for the status-page and admin tests: Debian's /usr/bin/chromium (installed by
 * .ci/run), driven by playwright-core. The flags keep it off this machine's closed network (no
 * background fetches, no QUIC, no component or sync updates), which otherwise refuses its
 * connections many at a time. Playwright gives each launch a fresh temporary profile.
 */
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.PAIRGATE_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}
