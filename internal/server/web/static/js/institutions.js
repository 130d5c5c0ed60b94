// 机构画像 search: the institutions of the user's region whose code or name holds q.
'use strict';
TW.pages.institutions = async () => {
  const { el } = TW;
  const q = (TW.query().get('q') || '').trim();
  const d = await TW.api('GET', '/api/v1/institutions?' + new URLSearchParams(q ? { q } : {})) || {};
  const list = d.institutions || [];
  const total = d.total || 0;
  document.getElementById('inst-count').textContent = (q ? '“' + q + '”：' : '本统筹区') + '共 ' + total + ' 家机构' +
    (total > list.length ? '，显示前 ' + list.length + ' 家；请输入更多字以缩小范围' : '');
  const body = document.querySelector('#inst-table tbody');
  if (!list.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'mute' }, q ? '没有找到编码或名称含“' + q + '”的机构。' : '本统筹区没有机构。')));
  for (const i of list) {
    const agr = el('span', { class: i.agreement === 'normal' ? '' : 'error' }, i.agreement_zh || i.agreement || '—');
    body.append(el('tr', {},
      el('td', {}, el('a', { href: '/institutions/' + encodeURIComponent(i.code) }, i.code)),
      el('td', {}, el('a', { href: '/institutions/' + encodeURIComponent(i.code) }, i.name || '—')),
      el('td', {}, i.type_zh || i.type || '—'), el('td', {}, i.level || '—'), el('td', {}, i.chain || '—'),
      el('td', {}, (i.region_name || '') + ' ' + (i.region || '')), el('td', {}, agr)));
  }
};
