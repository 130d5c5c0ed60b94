// 机构画像: one institution's collection rates, uploads, clues, outcomes and points.
'use strict';
TW.pages.institution = async () => {
  const { el } = TW;
  const code = document.getElementById('inst').dataset.code;
  const form = document.getElementById('inst-period');
  const q = TW.query();
  if (q.get('days')) form.elements.days.value = q.get('days');
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    location.search = new URLSearchParams({ days: form.elements.days.value }).toString();
  });
  const params = new URLSearchParams();
  for (const k of ['days', 'from', 'to']) if (q.get(k)) params.set(k, q.get(k));
  const v = await TW.api('GET', '/api/v1/institutions/' + encodeURIComponent(code) + '?' + params) || {};
  const inst = v.institution || {}, f = v.figures || {}, c = v.clues || {}, o = v.outcomes || {};
  document.getElementById('inst-period-note').textContent = '统计周期 ' + (f.from || '—') + ' 至 ' + (f.to || '—') +
    '；线索为该机构全部线索（本统筹区内）。数据更新于 ' + TW.time(v.generated_at);
  const kpi = (label, value, small, title) => el('div', { class: 'kpi', title: title || '' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value, small ? el('small', {}, small) : null));
  document.getElementById('inst-kpis').append(
    kpi('追溯码采集率', TW.pct(f.collection), TW.num(f.coded) + '/' + TW.num(f.lines) + ' 行', '带有效追溯码的医保药品销售行 / 医保药品销售行'),
    kpi('上传', TW.num(f.events), '条，' + (f.upload_days || 0) + '/' + (f.period_days || 0) + ' 天', '周期内上传的进销存和结算记录；有上传的天数'),
    kpi('无码销售金额', TW.wan(f.uncoded_sale_fen), '基金 ' + TW.wan(f.uncoded_fund_fen)),
    kpi('线索', TW.num(c.clues), ['在办 ' + TW.num(c.open) + '，逾期 ', el('span', { class: v.overdue ? 'overdue' : '' }, TW.num(v.overdue || 0))]),
    kpi('涉及金额', TW.wan(c.amount_fen)),
    kpi('追回金额', TW.wan(c.recovered_fen), '违约金/罚款 ' + TW.wan(c.penalty_fen)),
    kpi('办结属实率', TW.pct(o.precision), (o.confirmed || 0) + (o.partial || 0) + '/' + (o.decided || 0) + ' 件', '违规属实与部分属实 / 已办结与排除'),
  );
  const agreements = (v.agreements || []).map(a => a.status_zh + ' ' + a.from + (a.to ? ' 至 ' + a.to : ' 起')).join('；');
  const dl = document.getElementById('inst-facts');
  for (const [k, val] of [['机构编码', inst.code], ['名称', inst.name], ['类型', inst.type_zh], ['等级', inst.level], ['所属连锁', inst.chain],
    ['统筹区', [inst.region_name, inst.region].filter(Boolean).join(' ')], ['协议状态', el('span', { class: inst.agreement === 'normal' ? '' : 'error' }, inst.agreement_zh || '—')],
    ['协议记录', agreements], ['线索列表', el('a', { href: '/clues?institution=' + encodeURIComponent(inst.code || code) }, '查看该机构的线索')]]) {
    dl.append(el('dt', {}, k), el('dd', {}, val === undefined || val === null || val === '' ? '—' : val));
  }
  const days = f.days || [];
  const pct = x => x === null || x === undefined ? null : +(x * 100).toFixed(2);
  TW.chart(document.getElementById('chart-inst-days'), {
    tooltip: { trigger: 'axis' }, legend: { data: ['采集率', '上传条数'] }, grid: { left: 48, right: 56, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: days.map(x => x.day.slice(5)) },
    yAxis: [{ type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } }, { type: 'value', name: '条', splitLine: { show: false } }],
    series: [{ name: '采集率', type: 'line', data: days.map(x => pct(x.collection)), connectNulls: false },
      { name: '上传条数', type: 'bar', yAxisIndex: 1, data: days.map(x => x.events), itemStyle: { opacity: 0.35 } }],
  });
  const rows = (id, list, label) => {
    const body = document.querySelector('#' + id + ' tbody');
    if (!list || !list.length) { body.append(el('tr', {}, el('td', { colspan: 4, class: 'mute' }, '无'))); return; }
    for (const x of list) body.append(el('tr', {}, el('td', {}, label(x)), el('td', { class: 'num' }, TW.num(x.clues)),
      el('td', { class: 'num' }, TW.yuan(x.amount_fen)), el('td', { class: 'num' }, TW.yuan(x.recovered_fen))));
  };
  rows('inst-models', c.by_model, x => x.label || x.key);
  rows('inst-severity', c.by_severity, x => TW.sev(x.key));
  rows('inst-states', c.by_state, x => TW.state(x.key));
  const actionZh = { interview: '约谈', rectify: '限期整改', suspend: '暂停协议', terminate: '解除协议' };
  document.getElementById('inst-outcome-note').textContent = (o.decided || 0) + ' 件已办结或排除：违规属实 ' + (o.confirmed || 0) +
    '，部分属实 ' + (o.partial || 0) + '，排除 ' + (o.dismissed || 0) + ((v.decided || []).length < (o.decided || 0) ? '；列出最近 ' + v.decided.length + ' 件' : '');
  const dec = document.querySelector('#inst-decided tbody');
  if (!(v.decided || []).length) dec.append(el('tr', {}, el('td', { colspan: 9, class: 'mute' }, '尚无办结的线索。')));
  for (const x of v.decided || []) {
    dec.append(el('tr', {}, el('td', { class: 'num' }, '#' + x.id), el('td', {}, x.title || x.detector), el('td', {}, TW.sev(x.severity)),
      el('td', { class: x.result === 'dismissed' ? 'mute' : 'error' }, x.result_zh || x.result), el('td', { class: 'num' }, TW.yuan(x.amount_fen)),
      el('td', { class: 'num' }, TW.yuan(x.recovered_fen)), el('td', { class: 'num' }, TW.yuan((x.penalty_fen || 0) + (x.fine_fen || 0))),
      el('td', {}, actionZh[x.agreement_action] || x.agreement_action || '—'), el('td', {}, TW.day(x.decided))));
  }
  const statusZh = { active: '正常', suspended: '暂停', terminated: '终止' };
  const pts = document.querySelector('#inst-points tbody');
  if (!(v.practitioners || []).length) pts.append(el('tr', {}, el('td', { colspan: 5, class: 'mute' }, '本机构人员无记分。')));
  for (const p of v.practitioners || []) {
    pts.append(el('tr', {}, el('td', {}, el('code', {}, p.practitioner)), el('td', { class: 'num' }, TW.num(p.points)),
      el('td', { class: p.status === 'active' ? '' : 'error' }, statusZh[p.status] || p.status), el('td', {}, p.until ? TW.day(p.until) : '—'),
      el('td', { class: 'num' }, TW.num((p.awards || []).length))));
  }
};
