// 线索: filters, server-side paging, bulk actions, Excel export of the current filter.
'use strict';
TW.pages.clues = async () => {
  const { el } = TW;
  const data = JSON.parse(document.getElementById('page-data').textContent);
  const form = document.getElementById('clue-filter');
  for (const d of data.detectors || []) form.elements.detector.append(el('option', { value: d.value }, d.label));
  const bulkTo = document.getElementById('bulk-to');
  for (const t of data.targets || []) bulkTo.append(el('option', { value: t.value }, t.label));
  const titles = Object.fromEntries((data.detectors || []).map(d => [d.value, d.label]));
  const PAGE = 50;
  const q = TW.query();
  for (const k of ['state', 'detector', 'severity', 'region', 'institution', 'order']) if (q.get(k)) form.elements[k].value = q.get(k);
  if (q.get('min_amount_fen')) form.elements.min_amount.value = (Number(q.get('min_amount_fen')) / 100).toString();
  if (q.get('overdue')) form.elements.deadline.value = 'overdue';
  if (q.get('due_within')) form.elements.deadline.value = q.get('due_within');
  if (!q.get('order')) form.elements.order.value = 'severity';
  let page = Math.max(0, parseInt(q.get('page') || '0', 10) || 0);

  // params turns the form into the API's query.
  const params = () => {
    const p = new URLSearchParams();
    for (const k of ['state', 'detector', 'severity', 'region', 'institution']) {
      const v = form.elements[k].value.trim();
      if (v) p.set(k, v);
    }
    const amt = form.elements.min_amount.value.trim();
    if (amt) p.set('min_amount_fen', String(Math.round(parseFloat(amt) * 100)));
    const dl = form.elements.deadline.value;
    if (dl === 'overdue') p.set('overdue', 'true');
    else if (dl) {
      const d = new Date(Date.now() + Number(dl) * 86400000);
      p.set('due_before', new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai' }).format(d));
    }
    const order = form.elements.order.value;
    if (order && order !== 'id') p.set('order', order);
    return p;
  };
  const pageURL = () => {
    const p = params();
    if (form.elements.deadline.value && form.elements.deadline.value !== 'overdue') { p.delete('due_before'); p.set('due_within', form.elements.deadline.value); }
    if (!p.get('order')) p.set('order', form.elements.order.value);
    if (page) p.set('page', page);
    return '?' + p.toString();
  };
  const selected = new Set();
  const body = document.querySelector('#clue-table tbody');
  const bulk = document.getElementById('bulk');
  const updateBulk = () => {
    document.getElementById('bulk-count').textContent = selected.size;
    bulk.hidden = selected.size === 0 || !(data.targets || []).length;
  };
  const load = async () => {
    const p = params();
    p.set('limit', PAGE);
    p.set('count', 'true');
    if (page) p.set('offset', page * PAGE);
    if (!p.get('order')) p.set('order', 'id');
    const res = await TW.api('GET', '/api/v1/clues?' + p);
    const exp = params();
    document.getElementById('clue-export').href = '/api/v1/clues.xlsx' + (exp.toString() ? '?' + exp : '');
    body.replaceChildren();
    selected.clear();
    document.getElementById('check-all').checked = false;
    updateBulk();
    const now = Date.now();
    for (const c of res.clues) {
      const box = el('input', { type: 'checkbox', 'aria-label': '选择线索 ' + c.id, onchange: e => { e.target.checked ? selected.add(c.id) : selected.delete(c.id); updateBulk(); } });
      const dl = c.workflow && c.workflow.deadline && !String(c.workflow.deadline).startsWith('0001') ? c.workflow.deadline : null;
      const late = dl && new Date(dl).getTime() < now && !['closed', 'dismissed'].includes(c.state);
      body.append(el('tr', {},
        el('td', { class: 'noprint' }, box),
        el('td', {}, el('a', { href: '/clues/' + c.id }, String(c.id))),
        el('td', { title: c.detector }, titles[c.detector] || c.detector),
        el('td', {}, TW.sev(c.severity)),
        el('td', {}, c.institution ? el('a', { href: '/institutions/' + encodeURIComponent(c.institution) }, c.institution) : '—'),
        el('td', {}, c.region || '—'),
        el('td', { class: 'num' }, TW.yuan(c.amount_fen)),
        el('td', {}, TW.state(c.state)),
        el('td', { class: late ? 'overdue' : '' }, dl ? TW.day(dl) + (late ? ' 逾期' : '') : '—'),
        el('td', {}, TW.day(c.first_seen)),
        el('td', { class: 'mute' }, (c.explanation || '').slice(0, 60) + ((c.explanation || '').length > 60 ? '…' : ''))));
    }
    if (!res.clues.length) body.append(el('tr', {}, el('td', { colspan: 11, class: 'mute' }, '没有符合条件的线索')));
    const total = res.total || 0;
    const pages = Math.max(1, Math.ceil(total / PAGE));
    document.getElementById('clue-total').textContent = '共 ' + TW.num(total) + ' 条';
    document.getElementById('page-info').textContent = '第 ' + (page + 1) + ' / ' + TW.num(pages) + ' 页';
    document.getElementById('page-prev').disabled = page === 0;
    document.getElementById('page-next').disabled = page + 1 >= pages;
    history.replaceState(null, '', pageURL());
  };
  form.addEventListener('submit', ev => { ev.preventDefault(); page = 0; load().catch(showErr); });
  document.getElementById('clue-reset').addEventListener('click', () => { form.reset(); page = 0; load().catch(showErr); });
  document.getElementById('page-prev').addEventListener('click', () => { page = Math.max(0, page - 1); load().catch(showErr); });
  document.getElementById('page-next').addEventListener('click', () => { page++; load().catch(showErr); });
  document.getElementById('check-all').addEventListener('change', e => {
    for (const b of body.querySelectorAll('input[type=checkbox]')) { if (b.checked !== e.target.checked) { b.checked = e.target.checked; b.dispatchEvent(new Event('change')); } }
  });
  const msg = document.getElementById('bulk-msg');
  const showErr = err => TW.message(document.getElementById('page-error'), '加载失败：' + err.message, 'err');
  document.getElementById('bulk-go').addEventListener('click', async () => {
    const to = bulkTo.value, note = document.getElementById('bulk-note').value.trim();
    if (!note) { TW.message(msg, '请填写意见', 'err'); return; }
    let ok = 0; const failed = [];
    for (const id of [...selected]) {
      try { await TW.api('POST', '/api/v1/clues/' + id + '/transitions', { to, note }); ok++; } catch (e) { failed.push(id + '：' + e.message); }
    }
    TW.message(msg, '已办理 ' + ok + ' 条' + (failed.length ? '；未办理 ' + failed.length + ' 条：' + failed.join('；') : ''), failed.length ? 'err' : 'info');
    await load();
  });
  await load();
};
