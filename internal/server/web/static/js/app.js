// tracewatch web workplace: shared helpers (no build step, no CDN). Each page's script
// registers TW.pages[name]; the body's data-page picks the one to run.
'use strict';
const TW = {
  pages: {},
  csrf: (document.querySelector('meta[name=csrf]') || {}).content || '',
  // api calls the JSON API; a failure throws an Error with the server's message.
  async api(method, path, body) {
    const opt = { method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD') opt.headers['X-CSRF-Token'] = TW.csrf;
    if (body instanceof FormData) opt.body = body;
    else if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
    const res = await fetch(path, opt);
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { message: text }; } }
    if (!res.ok) {
      if (res.status === 401) { location.href = '/?next=' + encodeURIComponent(location.pathname + location.search); }
      const err = new Error((data && (data.message || data.error)) || ('HTTP ' + res.status));
      err.status = res.status; err.data = data;
      throw err;
    }
    return data;
  },
  // el builds an element: el('a', {href: '/x', class: 'y'}, 'text', child…).
  el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) {
      if (k === undefined || k === null || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  },
  yuan(fen) {
    if (fen === undefined || fen === null) return '—';
    return (fen / 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  },
  wan(fen) { // 万元 for big figures
    if (fen === undefined || fen === null) return '—';
    const y = fen / 100;
    return Math.abs(y) >= 1e4 ? (y / 1e4).toLocaleString('zh-CN', { maximumFractionDigits: 2 }) + ' 万元' : TW.yuan(fen) + ' 元';
  },
  pct(x) { return x === undefined || x === null ? '—' : (x * 100).toFixed(1) + '%'; },
  num(n) { return n === undefined || n === null ? '—' : Number(n).toLocaleString('zh-CN'); },
  time(t) { // an instant in Beijing time
    if (!t) return '—';
    const d = new Date(t);
    if (isNaN(d) || d.getUTCFullYear() < 1900) return '—';
    return new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', hour12: false }).format(d).replace(/\//g, '-');
  },
  day(t) { return TW.time(t).slice(0, 10); },
  sevZh: { violation: '明确违规', highly_suspicious: '高度可疑', suspicious: '可疑', notice: '提示' },
  sev(s) { return TW.el('span', { class: 'sev sev-' + s }, TW.sevZh[s] || s); },
  stateZh: { new: '机审', triaged: '初审', reviewed: '复审', deliberated: '合议', dispatched: '下发', investigating: '现场核查',
    answered: '反馈', closed: '办结', returned: '退回', appealed: '申诉', dismissed: '排除' },
  state(s) { return TW.el('span', { class: 'state' }, TW.stateZh[s] || s); },
  grade(g) { return TW.el('span', { class: 'grade grade-' + g }, g); },
  // chart draws an ECharts option into e and keeps it sized with the window.
  charts: [],
  chart(e, option) {
    if (!window.echarts || !e) return null;
    const c = echarts.init(e, null, { renderer: document.body.dataset.print ? 'svg' : 'canvas' });
    c.setOption(Object.assign({ animation: !document.body.dataset.print, textStyle: { fontFamily: 'inherit' } }, option));
    TW.charts.push(c);
    return c;
  },
  message(box, text, kind) {
    if (!box) return;
    box.textContent = text;
    box.className = 'msg ' + (kind || 'info');
    box.hidden = !text;
  },
  query() { return new URLSearchParams(location.search); },
};
window.addEventListener('resize', () => TW.charts.forEach(c => c.resize()));
document.addEventListener('DOMContentLoaded', () => {
  const out = document.getElementById('logout');
  if (out) out.addEventListener('click', async () => {
    try { await TW.api('POST', '/api/v1/logout'); } catch (e) { /* the session is gone either way */ }
    location.href = '/';
  });
  // body[data-ready] says the page's script has finished (the browser tests and the PDF
  // print wait for it); a failure is shown on the page and logged as an error.
  const run = TW.pages[document.body.dataset.page] || (() => {});
  Promise.resolve().then(run).catch(err => {
    const box = document.getElementById('page-error');
    if (box) TW.message(box, '加载失败：' + err.message, 'err');
    console.error('page ' + document.body.dataset.page + ': ' + err.message);
  }).finally(() => { TW.readyMs = Math.round(performance.now()); document.body.dataset.ready = '1'; });
});
