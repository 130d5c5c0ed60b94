// 规则: the rule base with each rule's figures; an admin edits a rule's enabled flag,
// severity ceiling and parameters (POST /api/v1/rules/{name}).
'use strict';
TW.sevOrder = ['notice', 'suspicious', 'highly_suspicious', 'violation'];
TW.pages.rules = async () => {
  const d = await TW.api('GET', '/api/v1/rules') || {};
  TW.renderRules(d);
};
TW.renderRules = (d, focus, note) => {
  const { el } = TW;
  const list = d.rules || [];
  document.getElementById('rules-source').textContent = (d.file ? '规则库文件 ' + d.file : '内置默认规则库') +
    (d.editable ? '（管理员可修改）' : '（只读）');
  document.getElementById('rules-note').textContent = '线索数为' + (d.region ? '统筹区 ' + d.region + ' 内' : '全部') +
    '已存储的线索（含规则各版本）；属实率 = 违规属实与部分属实 / 已办结与排除。';
  const body = document.querySelector('#rules-table tbody');
  body.replaceChildren();
  const detail = document.getElementById('rules-detail');
  detail.replaceChildren();
  if (!list.length) body.append(el('tr', {}, el('td', { colspan: 12, class: 'mute' }, '规则库为空。')));
  for (const r of list) {
    const f = r.figures || {}, o = f.outcomes || {};
    const anchor = 'rule-' + (r.short || r.name);
    const params = (r.params || []).map(p => p.name + '=' + p.value).join(' ');
    const sevs = (f.by_severity || []).flatMap(s => [TW.sev(s.key), ' ' + TW.num(s.clues) + ' ']);
    body.append(el('tr', { class: r.enabled ? '' : 'mute' },
      el('td', {}, el('a', { href: '#' + anchor }, r.short || '')), el('td', {}, r.title, el('br'), el('small', { class: 'mute' }, r.id)),
      el('td', {}, r.type || '—'), el('td', { style: 'white-space:nowrap' }, (r.stage || []).join('、')),
      el('td', {}, r.enabled ? el('span', { class: 'ok' }, '启用') : '停用'), el('td', {}, TW.sev(r.severity)),
      el('td', {}, el('small', {}, params || '—')), el('td', { class: 'num' }, TW.num(f.clues || 0)), el('td', { class: 'num' }, TW.num(f.open || 0)),
      el('td', {}, sevs.length ? sevs : '—'), el('td', { class: 'num' }, TW.num(o.decided || 0)), el('td', { class: 'num' }, TW.pct(o.precision))));
    detail.append(TW.ruleCard(r, d.editable, anchor, focus === r.id ? note : null));
  }
  if (focus) { const c = document.getElementById('rule-card-' + focus.replace(/[^a-z0-9]/gi, '_')); if (c) c.scrollIntoView(); }
};
TW.ruleCard = (r, editable, anchor, note) => {
  const { el } = TW;
  const f = r.figures || {}, o = f.outcomes || {};
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of [['规则编号', r.id], ['类型', r.type], ['阶段', (r.stage || []).join('、')], ['场景', (r.scenes || []).join('、')],
    ['检查范围', r.period], ['政策依据', r.basis], ['状态', r.enabled ? '启用' : '停用'],
    ['最高等级', [TW.sev(r.severity), r.severity !== r.default_severity ? '（默认 ' + (r.default_severity_zh || r.default_severity) + '）' : '']],
    ['适用地区', (r.regions || []).length ? r.regions.join('、') : '全部'], ['事中审核', r.counter ? '是（实时检查）' : '否（只在事后筛查）']]) {
    dl.append(el('dt', {}, k), el('dd', {}, v === undefined || v === null || v === '' ? '—' : v));
  }
  const params = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, '参数'), el('th', { class: 'num' }, '当前值'), el('th', { class: 'num' }, '默认'),
    el('th', {}, '范围'), el('th', {}, '说明'))));
  const pb = el('tbody');
  if (!(r.params || []).length) pb.append(el('tr', {}, el('td', { colspan: 5, class: 'mute' }, '无参数')));
  for (const p of r.params || []) {
    pb.append(el('tr', {}, el('td', { style: 'white-space:nowrap' }, el('code', { style: 'word-break:normal' }, p.name)), el('td', { class: 'num' }, p.value + (p.unit ? ' ' + p.unit : '')),
      el('td', { class: 'num' }, p.default), el('td', { style: 'white-space:nowrap' }, p.min + ' – ' + p.max), el('td', {}, p.doc || '')));
  }
  params.append(pb);
  const count = (label, xs, badge) => el('p', {}, el('b', {}, label + '：'),
    (xs || []).length ? (xs || []).flatMap(x => [badge(x.key), ' ' + TW.num(x.clues) + '　']) : '无');
  const figures = el('div', {},
    el('p', {}, '线索 ', el('b', {}, TW.num(f.clues || 0)), ' 条，在办 ' + TW.num(f.open || 0) + '，涉及金额 ' + TW.wan(f.amount_fen || 0) +
      '，追回 ' + TW.wan(f.recovered_fen || 0)),
    count('按严重程度', f.by_severity, TW.sev), count('按办理状态', f.by_state, TW.state),
    el('p', {}, '已决定 ' + TW.num(o.decided || 0) + ' 件：违规属实 ' + TW.num(o.confirmed || 0) + '，部分属实 ' + TW.num(o.partial || 0) +
      '，排除 ' + TW.num(o.dismissed || 0) + '；属实率 ', el('b', {}, TW.pct(o.precision))));
  const card = el('section', { class: 'card', id: anchor }, el('h2', { id: 'rule-card-' + r.id.replace(/[^a-z0-9]/gi, '_') }, (r.short || '') + ' ' + r.title),
    dl, el('h3', {}, '参数'), el('div', { class: 'table-wrap' }, params), el('h3', {}, '运行情况'), figures);
  if (editable) card.append(TW.ruleForm(r, note));
  return card;
};
TW.ruleForm = (r, note) => {
  const { el } = TW;
  const msg = el('div', { class: 'msg', hidden: true });
  const enabled = el('input', { type: 'checkbox', name: 'enabled', checked: r.enabled });
  const sev = el('select', { name: 'severity' });
  const top = TW.sevOrder.indexOf(r.default_severity);
  for (const s of TW.sevOrder.slice(0, top + 1).reverse()) sev.append(el('option', { value: s, selected: s === r.severity }, TW.sevZh[s] || s));
  const inputs = (r.params || []).map(p => el('label', {}, p.name + (p.unit ? '（' + p.unit + '）' : '') + ' ',
    el('input', { type: 'text', name: 'param', 'data-name': p.name, 'data-value': p.value, value: p.value, size: 10, title: p.min + ' – ' + p.max })));
  const button = el('button', { type: 'submit' }, '保存并生效');
  const form = el('form', { class: 'filters rule-form' }, el('label', {}, '启用', enabled), el('label', {}, '最高等级', sev), inputs, button);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const body = {};
    if (enabled.checked !== r.enabled) body.enabled = enabled.checked;
    if (sev.value !== r.severity) body.severity = sev.value;
    for (const i of form.querySelectorAll('input[name=param]')) {
      if (i.value.trim() !== i.dataset.value) { body.params = body.params || {}; body.params[i.dataset.name] = i.value.trim(); }
    }
    if (!Object.keys(body).length) { TW.message(msg, '没有修改。', 'info'); return; }
    button.disabled = true;
    try {
      const res = await TW.api('POST', '/api/v1/rules/' + encodeURIComponent(r.id), body);
      const d = await TW.api('GET', '/api/v1/rules');
      TW.renderRules(d || {}, r.id, (res && res.applied) || '已保存。');
    } catch (err) {
      TW.message(msg, '未保存：' + err.message, 'err');
      button.disabled = false;
    }
  });
  const wrap = el('div', { class: 'actions' }, el('h3', {}, '修改（管理员）'), msg, form,
    el('p', { class: 'mute' }, '修改写入规则库文件，并记入审计日志；最高等级只能调低（不能高于规则默认等级）。'));
  if (note) TW.message(msg, note, 'info');
  return wrap;
};
