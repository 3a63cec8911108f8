"""The page's stylesheet and script, served as /app.css and /app.js (so the Content-Security-Policy
can forbid inline code)."""

from __future__ import annotations

CSS = """
:root { color-scheme: light dark; --ok: #2a7d2a; --bad: #b3261e; --dim: #777; }
body { font: 16px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 0 .8rem 2rem; }
h1 { font-size: 1.3rem; margin: .8rem 0 .2rem; } h2 { font-size: 1.05rem; margin: 1.1rem 0 .4rem; }
.card { border: 1px solid #8884; border-radius: .5rem; padding: .5rem .7rem; margin: .4rem 0; }
.card.playing { border-color: var(--ok); }
.title { margin: .2rem 0; font-size: 1.1rem; }
progress { width: 70%; height: .8rem; vertical-align: middle; }
.state, .tag { font-size: .8rem; border-radius: .3rem; padding: 0 .35rem; background: #8883; }
.failed .tag { background: var(--bad); color: #fff; }
.dim { color: var(--dim); font-size: .9rem; } .reason { color: var(--bad); font-size: .9rem; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
.rows { list-style: none; padding: 0; } .rows li { border-bottom: 1px solid #8883; padding: .45rem 0; }
form.inline { display: inline; } button { font: inherit; padding: .15rem .7rem; margin-top: .25rem; }
input[name=trakt] { width: min(100%, 22rem); font: inherit; }
.flash { background: #8882; padding: .4rem .6rem; border-radius: .4rem; }
details.fix { margin-top: .3rem; } code { font-size: .9rem; }
"""

# Poll the live sections every second; leave alone a section the user is typing in or has open.
JS = """
(function () {
  const live = document.getElementById('live');
  if (!live) return;
  async function refresh() {
    try {
      const resp = await fetch('/live', {credentials: 'same-origin', cache: 'no-store'});
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
      for (const fresh of doc.querySelectorAll('section[id]')) {
        const old = document.getElementById(fresh.id);
        if (!old) { live.appendChild(fresh); continue; }
        if (old.contains(document.activeElement) || old.querySelector('details[open]')) continue;
        if (old.innerHTML !== fresh.innerHTML) old.replaceWith(fresh);
      }
    } catch (e) { /* the daemon restarts: try again at the next tick */ }
  }
  setInterval(refresh, 1000);
})();
"""
