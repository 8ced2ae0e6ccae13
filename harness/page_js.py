"""JavaScript the browser harness evaluates in the app's page (harness/browser.py)."""

# JS: how many queued events one trigger starts (its handlers and their .then/.success chains).
EVENTS_JS = """([elemId, event]) => {
  const cfg = window.gradio_config;
  const ids = new Set(cfg.components.filter(c => c.props && c.props.elem_id === elemId).map(c => c.id));
  if (!ids.size) throw new Error('no component with elem_id ' + elemId);
  const deps = cfg.dependencies;
  let chain = deps.filter(d => d.targets.some(t => ids.has(t[0]) && t[1] === event));
  const seen = new Set(chain.map(d => d.id));
  for (let i = 0; i < chain.length; i++) {
    for (const d of deps) {
      if (d.trigger_after === chain[i].id && !seen.has(d.id)) { seen.add(d.id); chain.push(d); }
    }
  }
  return chain.filter(d => d.backend_fn && d.queue !== false).length;
}"""


# JS: record every distinct drawing of a gr.LinePlot's lines (Vega SVG path data) from now on, so a test sees
# each frame of a stream however fast it runs, without polling.
WATCH_LINES_JS = """sel => {
  const el = document.querySelector(sel);
  if (!el) throw new Error('no element ' + sel);
  const seen = (window.__lines = window.__lines || {});
  const rec = (seen[sel] = []);
  const log = ((window.__lineLog = window.__lineLog || {})[sel] = {t0: performance.now(), at: [], svgs: 0});
  const snap = () => {
    const d = [...el.querySelectorAll('svg g.mark-line path')].map(p => p.getAttribute('d') || '').join('|');
    if (d && rec[rec.length - 1] !== d) { rec.push(d); log.at.push(Math.round(performance.now() - log.t0)); }
  };
  snap();
  new MutationObserver(ms => {
    for (const m of ms) for (const n of m.addedNodes) if (n.nodeName === 'svg') log.svgs++;  // a new chart
    snap();
  }).observe(el, {subtree: true, childList: true, attributes: true});
}"""
# JS: when (ms after watch_lines) each drawing appeared, and how many times the chart's svg was created.
LINE_LOG_JS = """sel => (window.__lineLog || {})[sel] || null"""
# JS: the point counts (path vertices) of each recorded drawing.
LINE_COUNTS_JS = """sel => ((window.__lines || {})[sel] || []).map(d => (d.match(/[ML]/g) || []).length)"""

# JS: every tab a visitor uses, in layout order, as [label, the label of the section tab holding it (or null)];
# sections are the tabs that hold tabs. From the page's config: a section's tabs are not in the DOM until opened.
TAB_TREE_JS = """() => {
  const cfg = window.gradio_config;
  const byId = new Map(cfg.components.map(c => [c.id, c]));
  const label = c => {  // a translatable label is '__i18n__{"key": ...}': its key is the English name (ui/i18n.py)
    const l = c.props && c.props.label;
    if (typeof l !== 'string') return (l && l.key) || '';
    return l.startsWith('__i18n__') ? JSON.parse(l.slice(8)).key : l;
  };
  const isTab = n => { const c = byId.get(n.id); return !!c && c.type === 'tabitem'; };
  const holdsTabs = n => (n.children || []).some(ch => isTab(ch) || holdsTabs(ch));
  const out = [];
  const walk = (n, section) => {
    if (isTab(n) && !holdsTabs(n)) { out.push([label(byId.get(n.id)), section]); return; }
    const here = isTab(n) ? label(byId.get(n.id)) : section;
    for (const ch of n.children || []) walk(ch, here);
  };
  walk(cfg.layout, null);
  return out;
}"""

# JS: is the pad's canvas the topmost element at a point? (A stuck progress overlay covers it.)
PAD_FREE_JS = """([x, y]) => { const e = document.elementFromPoint(x, y);
  return !!e && e.tagName === 'CANVAS' && !!e.closest('#pad'); }"""
ELEMENT_AT_JS = """([x, y]) => { const e = document.elementFromPoint(x, y); if (!e) return 'nothing';
  const box = e.closest('[data-testid=status-tracker]');
  return (box ? 'a progress overlay (status tracker) showing ' + JSON.stringify(box.innerText.trim()) + ': ' : '')
    + e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''); }"""
