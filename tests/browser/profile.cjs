// Opens the review page (index.html) in headless Chromium through Playwright
// at a phone's width and a desktop's, in the light and the dark colour scheme,
// scrolls every chart into view (they load lazily, as the embed says), and
// prints what the browser shows of each image as JSON for the Rust test to
// judge. Screenshots go to OUT_DIR/profile-<width>-<scheme>.png.
//
// node profile.cjs PAGE OUT_DIR   (PLAYWRIGHT_CORE: the playwright-core
// package's folder; CHROMIUM: the browser, default /usr/bin/chromium)
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

async function main() {
  const [pagePath, outDir] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const results = [];
  try {
    for (const [width, scheme] of [[360, 'light'], [360, 'dark'], [1280, 'light'], [1280, 'dark']]) {
      const context = await browser.newContext({
        viewport: { width, height: 800 }, colorScheme: scheme, deviceScaleFactor: 2,
      });
      const page = await context.newPage();
      await page.goto('file://' + pagePath);
      await page.evaluate(async () => {
        for (const figure of document.querySelectorAll('figure')) {
          figure.scrollIntoView();
          await new Promise((resolve) => requestAnimationFrame(resolve));
        }
        window.scrollTo(0, 0);
      });
      await page.waitForFunction(
        () => [...document.querySelectorAll('figure img')].every((i) => i.complete),
        null, { timeout: 60000 });
      const shown = await page.evaluate(() => ({
        background: getComputedStyle(document.body).backgroundColor,
        loaded: document.body.getAttribute('data-images-loaded'),
        images: [...document.querySelectorAll('figure img')].map((i) => ({
          src: i.currentSrc,
          alt: i.alt,
          loaded: i.complete && i.naturalWidth > 0,
          natural: [i.naturalWidth, i.naturalHeight],
          css: [i.clientWidth, i.clientHeight],
        })),
      }));
      await page.screenshot({ path: `${outDir}/profile-${width}-${scheme}.png` });
      results.push({ width, scheme, ...shown });
      await context.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((e) => { console.error(e); process.exit(1); });
