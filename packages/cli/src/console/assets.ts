/**
 * The console's only stylesheet and script, served from the CLI itself:
 * no build step, no CDN, nothing the browser fetches from anywhere else.
 */
export const CSS = `
:root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header nav a { color: #c9d3e6; margin-right: 1rem; text-decoration: none; }
header nav a.active { color: #fff; border-bottom: 2px solid #5fa8ff; }
header .server { margin-left: auto; font-size: .85rem; color: #9aa6bd; }
main { padding: 1rem 1.2rem; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1rem; font-size: .88rem; }
th, td { border: 1px solid #dde1e8; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, monospace; font-size: .82rem; }
pre.json { background: #fff; border: 1px solid #dde1e8; padding: .6rem; overflow: auto; max-height: 24rem; margin: 0; }
form.filters { display: flex; gap: .8rem; flex-wrap: wrap; align-items: end; margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: .8rem; }
button, input, select { font: inherit; padding: .25rem .5rem; }
button.danger { background: #b42318; color: #fff; border: 1px solid #8d1b12; }
button.primary { background: #175cd3; color: #fff; border: 1px solid #114aa8; }
.bad { color: #b42318; } .ok { color: #067647; } .muted { color: #667085; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .6rem; background: #eef1f5; font-size: .78rem; }
.notice { background: #fffbe6; border: 1px solid #f0d66b; padding: .6rem .8rem; margin-bottom: 1rem; }
.actions { display: flex; gap: .6rem; margin: .6rem 0; }
#tail-status { margin: .5rem 0; }
`;

/**
 * A little vanilla JS, and nothing works worse without it except the tail:
 * "select all" for the dead-letter checkboxes, and the tail's EventSource
 * that prepends one row per decoded event.
 */
export const JS = `
document.querySelectorAll("[data-select-all]").forEach((box) => {
  box.addEventListener("change", () => {
    document.querySelectorAll("input[name=seq]").forEach((b) => { b.checked = box.checked; });
  });
});
const tail = document.getElementById("tail-rows");
if (tail) {
  const status = document.getElementById("tail-status");
  const source = new EventSource("/tail/events?pattern=" + encodeURIComponent(tail.dataset.pattern));
  source.addEventListener("ready", (e) => { status.textContent = "listening on " + JSON.parse(e.data).pattern; status.className = "ok"; });
  source.addEventListener("failed", (e) => { status.textContent = JSON.parse(e.data).error; status.className = "bad"; source.close(); });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) { status.textContent = "disconnected"; status.className = "bad"; } };
  source.onmessage = (e) => {
    const m = JSON.parse(e.data);
    const tr = document.createElement("tr");
    const cells = [m.time || "-", m.subject, m.type || "-", m.id || "-"];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    const td = document.createElement("td");
    const pre = document.createElement("pre");
    pre.className = "json";
    pre.textContent = m.error ? "!! " + m.error : JSON.stringify(m.data, null, 2);
    td.appendChild(pre); tr.appendChild(td);
    tail.prepend(tr);
  };
}
`;
