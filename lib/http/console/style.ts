// The console's one stylesheet, served by the app at a versioned URL (a CSS
// file in a string: esbuild bundles it into the Lambda with the code, no file
// to copy). System fonts, no images; contrast at least 4.5:1 throughout;
// tables scroll sideways on a phone instead of squeezing.
import { createHash } from 'node:crypto';

export const CONSOLE_CSS = `
:root { --fg: #1b1b1b; --muted: #4a4a4a; --bg: #ffffff; --line: #d0d0d0; --accent: #0b57d0; --bad: #a50e0e; --warn: #7a4b00; --ok: #146c2e; --soft: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: 0.5rem; }
.skip:focus { left: 0.5rem; }
header.top { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; align-items: center; padding: 0.75rem 1rem; border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; margin-right: auto; }
nav.main ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; margin: 0; padding: 0; }
nav.main a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: 0.75rem; padding: 0; margin: 0; list-style: none; }
.cards li { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; }
.cards .n { display: block; font-size: 1.6rem; font-weight: 700; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; white-space: nowrap; }
.status-failing, .status-failed, .status-conflict { color: var(--bad); }
.status-reauth_required, .status-retrying { color: var(--warn); }
.status-active, .status-ok, .status-applied, .status-delivered { color: var(--ok); }
.muted { color: var(--muted); }
.notice { border: 1px solid var(--line); border-left: 6px solid var(--accent); padding: 0.5rem 0.75rem; margin: 0 0 1rem; }
.notice.error { border-left-color: var(--bad); }
form.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: flex-end; margin-bottom: 0.75rem; }
label { display: block; font-weight: 600; }
input, select, button { font: inherit; padding: 0.35rem 0.6rem; border: 1px solid #767676; border-radius: 4px; background: var(--bg); color: var(--fg); }
button { cursor: pointer; background: var(--soft); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.actions { display: flex; flex-wrap: wrap; gap: 0.4rem; }
.signin { max-width: 26rem; margin: 3rem auto; }
.signin input { width: 100%; margin: 0.25rem 0 1rem; }
.chart svg { width: 100%; height: auto; max-width: 48rem; }
.chart .bar { fill: var(--accent); }
.chart .axis { stroke: var(--muted); }
.chart text { fill: var(--muted); font-size: 11px; }
.side-by-side { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
pre { background: var(--soft); padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; font-size: 0.85rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.9em; word-break: break-all; }
`;

/** Part of the stylesheet's URL: a new version is a new URL, so it can be cached for good. */
export const CONSOLE_CSS_VERSION = createHash('sha256').update(CONSOLE_CSS).digest('hex').slice(0, 12);
